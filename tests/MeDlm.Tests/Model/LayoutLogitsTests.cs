using System.Security.Cryptography;
using System.Text.Json;
using MeDlm.Generation;
using MeDlm.Model;
using MeDlm.Tests.Generation;

namespace MeDlm.Tests.Model;

/// <summary>
/// Tiny random checkpoints of the three layouts (ME-DLM, original LLaDA, Dream with q/k/v biases and GQA) in
/// their real on-disk form (bf16, sharded with an index, the real config keys), exported by the streaming
/// exporter at float32, float16 and with int8 / int4 MatMulNBits weights (tests/fixtures/packages/layout-*,
/// export/make_layout_fixtures.py): loaded with <see cref="ModelPackage.Load(string, ModelOptions?)"/>, their
/// logits on a right-padded batch match the PyTorch module's (tests/golden/layouts) within the golden tolerance.
/// </summary>
public sealed class LayoutLogitsTests
{
    private static string Packages => Path.Combine(TestModels.RepoRoot, "tests", "fixtures", "packages");

    private static string Golden(string name) => Path.Combine(TestModels.RepoRoot, "tests", "golden", "layouts", name + ".json");

    [Theory]
    [InlineData("layout-medlm", "medlm")]
    [InlineData("layout-llada", "llada")]
    [InlineData("layout-dream", "dream")]
    public void Float32_package_of_each_layout_matches_pytorch(string name, string architecture)
    {
        using var package = ModelPackage.Load(Path.Combine(Packages, name));
        Assert.Equal(architecture, package.Manifest.Architecture);
        Assert.Equal("float32", package.Manifest.DType);
        Assert.Equal(architecture == "dream", package.Manifest.ShiftedLogits);
        Assert.Equal(architecture == "medlm", package.HasEditHead);
        Assert.Null(Quantization(name));
        AssertMatchesGolden(package, Golden(name), tolerance: null);
    }

    [Theory]
    [InlineData("layout-medlm-int8", "int8")]
    [InlineData("layout-medlm-int4", "int4")]
    public void Quantized_package_matches_the_dequantized_pytorch_module(string name, string quantization)
    {
        using var package = ModelPackage.Load(Path.Combine(Packages, name));
        Assert.Equal(quantization, Quantization(name));
        Assert.True(package.HasEditHead);
        AssertMatchesGolden(package, Golden(name), tolerance: null);
    }

    [Fact]
    public void Float16_package_matches_the_float32_module_within_half_precision()
    {
        using var package = ModelPackage.Load(Path.Combine(Packages, "layout-medlm-fp16"));
        Assert.Equal("float16", package.Manifest.DType);
        // The float32 golden of the same checkpoint; its hashes name the float32 graphs, not these.
        AssertMatchesGolden(package, Golden("layout-medlm"), tolerance: 5e-2, checkHashes: false);
    }

    [Theory]
    [InlineData("layout-medlm-int8")]
    [InlineData("layout-medlm-int4")]
    [InlineData("layout-medlm-fp16")]
    public void Reduced_precision_package_generates(string name)
    {
        using var package = ModelPackage.Load(Path.Combine(Packages, name));
        using var generator = new Generator(package);
        GenerationResult r = generator.Generate(new GenerationRequest { Prompt = "ann has 3 pens", GenLength = 8, MaskSteps = 4, EditSteps = 2 });
        Assert.Equal(4, r.Stats.MaskPasses);
        Assert.InRange(r.Stats.EditPasses, 1, 2);
        Assert.NotEmpty(r.TokenIds);
        Assert.DoesNotContain(package.Manifest.SpecialTokens.Mask, r.TokenIds);
    }

    private static string? Quantization(string name)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Packages, name, ModelManifest.FileName)));
        if (!doc.RootElement.TryGetProperty("weights", out JsonElement w))
        {
            return null;
        }
        Assert.Equal(32, w.GetProperty("block_size").GetInt32());
        Assert.Equal("com.microsoft.MatMulNBits", w.GetProperty("op").GetString());
        return w.GetProperty("quantization").GetString();
    }

    private static void AssertMatchesGolden(ModelPackage package, string goldenPath, double? tolerance, bool checkHashes = true)
    {
        Assert.True(File.Exists(goldenPath), $"{goldenPath} is missing: run `/usr/bin/python3 export/make_layout_fixtures.py`");
        using var doc = JsonDocument.Parse(File.ReadAllBytes(goldenPath));
        JsonElement g = doc.RootElement;
        Assert.Equal("medlm-golden-logits/1", g.GetProperty("format").GetString());
        if (checkHashes)
        {
            Assert.Equal(package.Manifest.Name, g.GetProperty("package").GetString());
            Assert.True(Sha256(Path.Combine(package.Folder, package.Manifest.DenoiserFile)) == g.GetProperty("denoiser_sha256").GetString(),
                $"{goldenPath} is stale (denoiser.onnx changed): run `/usr/bin/python3 export/make_layout_fixtures.py`");
        }
        double tol = tolerance ?? g.GetProperty("tolerance").GetDouble();
        int[] lengths = [.. g.GetProperty("lengths").EnumerateArray().Select(e => e.GetInt32())];
        Assert.Equal(2, lengths.Length);
        Assert.NotEqual(lengths[0], lengths[1]);  // one row is right padded
        Assert.Equal(package.HasEditHead, g.TryGetProperty("next_token_logits", out _));
        LogitsGoldenTests.AssertRunMatches(package, g, tol);
    }

    private static string Sha256(string path) => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path)));
}
