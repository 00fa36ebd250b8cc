using System.Numerics.Tensors;

namespace MeDlm.Benchmarks;

/// <summary>One 126,464-float row (494 KiB, cache-resident after the first touch).</summary>
[MemoryDiagnoser]
public class RowBenchmarks
{
    private const int Vocab = VocabRowsBenchmarks.Vocab;
    private readonly float[] _row = new float[Vocab];
    private readonly float[] _dest = new float[Vocab];
    private readonly ulong[] _scratch = new ulong[Vocab];

    [GlobalSetup]
    public void Setup()
    {
        var r = new Random(2);
        for (int i = 0; i < Vocab; i++)
        {
            _row[i] = (r.NextSingle() * 20f) - 10f;
        }
    }

    [Benchmark(Baseline = true, Description = "Copy one row (baseline)")]
    public void Copy() => _row.AsSpan().CopyTo(_dest);

    [Benchmark(Description = "Softmax one row")]
    public void Softmax() => Kernels.Softmax.Compute(_row, _dest);

    [Benchmark(Description = "TensorPrimitives.SoftMax (unstable, reference)")]
    public void TensorPrimitivesSoftMax() => TensorPrimitives.SoftMax<float>(_row, _dest);

    [Benchmark(Description = "Fused argmax+prob one row")]
    public int ArgmaxProbability() => Confidence.ArgmaxProbability(_row, [126_084], [126_081], out _);

    [Benchmark(Description = "Exact float64 probability one row (refinement)")]
    public double ExactProbability() => Confidence.ExactProbability(_row, 17, [126_084], [126_081]);

    [Benchmark(Description = "Gumbel-max T=1 one row (float64)")]
    public int Gumbel() => Sampling.GumbelArgmax(_row, 1.0, CounterRng.Key(1, CounterRng.PurposeGumbel, 0, 0), default);

    [Benchmark(Description = "Categorical top-k 50 one row")]
    public int TopK50() => Sampling.SampleCategorical(_row, 1.0, 50, 1.0, 0.5, _scratch, default);

    [Benchmark(Description = "Categorical top-p 0.9 one row")]
    public int TopP() => Sampling.SampleCategorical(_row, 0.7, 0, 0.9, 0.5, _scratch, default);
}
