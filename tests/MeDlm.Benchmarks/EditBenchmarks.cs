namespace MeDlm.Benchmarks;

/// <summary>
/// One edit round over a batch of 8 rows of L tokens (prompt 128), about 2% deletions, 2% insertions and
/// 3% replacements, row by row as the decoder applies it (each row has its own buffers). The copy baseline moves the bytes the kernel reads: 8 (token) + 4 (cur) + 4 (nxt) per position.
/// </summary>
[MemoryDiagnoser]
public class EditBenchmarks
{
    private const int Batch = 8;
    private const int Prompt = 128;
    private const int Del = 126_084;

    private long[] _tokens = [];
    private int[] _cur = [];
    private int[] _nxt = [];
    private long[] _dest = [];
    private long[] _copySrc = [];
    private long[] _copyDst = [];
    private readonly EditCounts[] _counts = new EditCounts[Batch];

    [Params(640, 2560)]
    public int L { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var r = new Random(4);
        _tokens = new long[Batch * L];
        _cur = new int[Batch * L];
        _nxt = new int[Batch * L];
        _dest = new long[Batch * 2 * L];
        _copySrc = new long[Batch * L * 2]; // 16 bytes per position
        _copyDst = new long[Batch * L * 2];
        for (int i = 0; i < _tokens.Length; i++)
        {
            int t = r.Next(100_000);
            _tokens[i] = t;
            double u = r.NextDouble();
            _cur[i] = u < 0.02 ? Del : u < 0.05 ? r.Next(100_000) : t;
            _nxt[i] = r.NextDouble() < 0.02 ? r.Next(100_000) : t;
        }
    }

    [Benchmark(Baseline = true, Description = "Copy 16 B x 8 x L (baseline)")]
    public void Copy() => _copySrc.AsSpan().CopyTo(_copyDst);

    [Benchmark(Description = "Edit round 8 x L")]
    public int Apply()
    {
        int total = 0;
        for (int b = 0; b < Batch; b++)
        {
            total += Edits.Apply(_tokens.AsSpan(b * L, L), Prompt, _cur.AsSpan(b * L, L), _nxt.AsSpan(b * L, L), Del, 8192,
                _dest.AsSpan(b * 2 * L, 2 * L), out _counts[b]);
        }
        return total;
    }
}
