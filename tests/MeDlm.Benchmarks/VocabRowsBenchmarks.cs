namespace MeDlm.Benchmarks;

/// <summary>
/// The stage-1 step over a batch of 8 x 640 positions with LLaDA's 126,464-token vocabulary reads 2.6 GB of
/// logits. To fit the machine, 256 distinct rows (129 MB, four times the L3 cache) stand in for them: one
/// operation is one pass over the 256 rows, so a whole 8 x 640 step costs 20 operations (cycling over the
/// same buffer reads the same bytes from memory as the real step). One pass per operation also lets
/// BenchmarkDotNet run many operations per iteration, so its allocation column is exact.
/// </summary>
[MemoryDiagnoser]
public class VocabRowsBenchmarks
{
    public const int Vocab = 126_464;
    public const int DistinctRows = 256;
    public const int Positions = 8 * 640;
    private const int Passes = 1; // per operation; Positions / DistinctRows = 20 operations make one step
    private const int Del = 126_084, Pad = 126_081;

    private float[] _logits = [];
    private float[] _copy = [];
    private readonly int[] _ids = new int[DistinctRows];
    private readonly float[] _conf = new float[DistinctRows];
    private readonly int[] _del = [Del];
    private readonly int[] _pad = [Pad];

    [GlobalSetup]
    public void Setup()
    {
        _logits = GC.AllocateUninitializedArray<float>(Vocab * DistinctRows);
        _copy = GC.AllocateUninitializedArray<float>(Vocab * DistinctRows);
        var r = new Random(1);
        for (int i = 0; i < _logits.Length; i++)
        {
            _logits[i] = (r.NextSingle() * 20f) - 10f;
        }
    }

    [Benchmark(Baseline = true, Description = "Copy 256 rows (baseline)")]
    public void Copy()
    {
        for (int p = 0; p < Passes; p++)
        {
            _logits.AsSpan().CopyTo(_copy);
        }
    }

    [Benchmark(Description = "TensorPrimitives.Max 256 rows (read-only reference)")]
    public float ReadOnlyMax()
    {
        float m = 0;
        for (int p = 0; p < Passes; p++)
        {
            m += System.Numerics.Tensors.TensorPrimitives.Max<float>(_logits);
        }
        return m;
    }

    [Benchmark(Description = "Fused argmax+prob 256 rows")]
    public int ArgmaxProbability()
    {
        for (int p = 0; p < Passes; p++)
        {
            // Position by position, as the decoder scores its masked candidates.
            for (int r = 0; r < DistinctRows; r++)
            {
                _ids[r] = Confidence.ArgmaxProbability(_logits.AsSpan(r * Vocab, Vocab), _del, _pad, out _conf[r]);
            }
        }
        return _ids[0];
    }

    [Benchmark(Description = "Argmax (banned DEL) 256 rows")]
    public int ArgmaxOnly()
    {
        int s = 0;
        for (int p = 0; p < Passes; p++)
        {
            for (int r = 0; r < DistinctRows; r++)
            {
                s += Argmax.Index(_logits.AsSpan(r * Vocab, Vocab), _del);
            }
        }
        return s;
    }
}
