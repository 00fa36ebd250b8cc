namespace MeDlm.Benchmarks;

/// <summary>Choosing the positions to commit (the decoders' float64 confidences): k = 32 of N positions, half of them already committed (-inf).</summary>
[MemoryDiagnoser]
public class SelectionBenchmarks
{
    private double[] _scores = [];
    private double[] _copy = [];
    private int[] _dest = [];

    [Params(512, 1024, 4096)]
    public int N { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var r = new Random(3);
        _scores = new double[N];
        _copy = new double[N];
        _dest = new int[N];
        for (int i = 0; i < N; i++)
        {
            _scores[i] = r.Next(2) == 0 ? double.NegativeInfinity : r.NextDouble();
        }
    }

    [Benchmark(Baseline = true, Description = "Copy N scores (baseline)")]
    public void Copy() => _scores.AsSpan().CopyTo(_copy);

    [Benchmark(Description = "TopK k=32")]
    public int TopK() => Selection.TopK(_scores, 32, _dest);

    [Benchmark(Description = "Threshold 0.9")]
    public int Threshold() => Selection.Threshold(_scores, 0.9, _dest);
}
