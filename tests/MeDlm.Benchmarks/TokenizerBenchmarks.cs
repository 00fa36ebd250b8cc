using BenchmarkDotNet.Configs;
using MeDlm.Tests.Shared;
using MeDlm.Tokenization;

namespace MeDlm.Benchmarks;

/// <summary>
/// Tokenizer paths of the runtime against Microsoft.ML.Tokenizers' own BpeTokenizer calls on the same
/// model (the baseline here is the library, not a memory copy: Ratio = ours / library). Decoding a
/// 512-id canvas is what the diffusion runtime does every step.
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class TokenizerBenchmarks
{
    private MeDlmTokenizer _tokenizer = null!;
    private CanvasDecoder _canvasDecoder = null!;
    private string _prompt = string.Empty;
    private int[] _canvas = [];

    [GlobalSetup]
    public void Setup()
    {
        _tokenizer = MeDlmTokenizer.Load(Path.Combine(RepositoryRoot.Path, "onnx", "medlm-tiny", "tokenizer.json"));
        _canvasDecoder = new CanvasDecoder(_tokenizer);
        _prompt = ChatTemplate.ChatML.ApplyPrompt(
            "Write a function sum_gt(xs) that returns the sum of the elements greater than 9.\n"
            + "def sum_gt(xs):\n    total = 0\n    for x in xs:\n        if x > 9:\n            total += x\n    return total");
        int[] ids = [.. _tokenizer.EncodeToIds(_prompt)];
        _canvas = new int[512];
        for (int i = 0; i < _canvas.Length; i++)
        {
            _canvas[i] = ids[i % ids.Length];
        }
    }

    [Benchmark(Baseline = true, Description = "Library BpeTokenizer.Decode 512 ids (baseline)")]
    [BenchmarkCategory("decode")]
    public string LibraryDecode() => _tokenizer.LibraryBpe.Decode(_canvas);

    [Benchmark(Description = "Decode 512 ids to string")]
    [BenchmarkCategory("decode")]
    public string Decode() => _tokenizer.Decode(_canvas);

    [Benchmark(Description = "CanvasDecoder 512 ids (no allocation)")]
    [BenchmarkCategory("decode")]
    public int Canvas() => _canvasDecoder.Decode(_canvas).Length;

    [Benchmark(Baseline = true, Description = "Library BpeTokenizer.EncodeToIds ChatML prompt (baseline)")]
    [BenchmarkCategory("encode")]
    public int LibraryEncode() => _tokenizer.LibraryBpe.EncodeToIds(_prompt).Count;

    [Benchmark(Description = "EncodeToIds ChatML prompt")]
    [BenchmarkCategory("encode")]
    public int Encode() => _tokenizer.EncodeToIds(_prompt).Count;
}
