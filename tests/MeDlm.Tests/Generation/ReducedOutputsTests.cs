using System.Text.Json;
using MeDlm.Decoding;
using MeDlm.Generation;
using MeDlm.Model;
using MeDlm.Sessions;
using Xunit.Abstractions;

namespace MeDlm.Tests.Generation;

/// <summary>The bundled model's weights in the reduced output forms (export/make_reduced_fixture.py).</summary>
internal static class ReducedPackages
{
    private static readonly Lazy<ModelPackage> ArgmaxPackage = new(() => Load("medlm-tiny-argmax"));
    private static readonly Lazy<ModelPackage> ReducedPackage = new(() => Load("medlm-tiny-reduced"));

    public static string Folder => Path.Combine(TestModels.RepoRoot, "tests", "fixtures", "generated");

    /// <summary>Full denoiser logits, edit head in the argmax form.</summary>
    public static ModelPackage Argmax => ArgmaxPackage.Value;

    /// <summary>Denoiser in the top-K form, edit head in the argmax form.</summary>
    public static ModelPackage Reduced => ReducedPackage.Value;

    /// <summary>The first manifest that is not written, or null.</summary>
    public static string? Missing()
    {
        foreach (string name in (string[])["medlm-tiny-argmax", "medlm-tiny-reduced"])
        {
            string manifest = Path.Combine(Folder, name, ModelManifest.FileName);
            if (!File.Exists(manifest))
            {
                return manifest;
            }
        }
        return null;
    }

    private static ModelPackage Load(string name)
    {
        string? missing = Missing();
        Assert.True(missing is null, $"{missing} is missing: run `/usr/bin/python3 export/make_reduced_fixture.py`");
        return ModelPackage.Load(Path.Combine(Folder, name));
    }
}

/// <summary>
/// The reduced output forms (docs/DESIGN.md §3.4) decode the golden cases token for token like the full
/// logits of the same weights: the edit head's argmax form (next_token_ids, next_token_prob) with full or
/// top-K denoiser outputs, on the bundled model re-exported by the streaming exporter.
/// </summary>
public sealed class ReducedOutputsTests(ITestOutputHelper output)
{
    [SetupTheory(TestSetup.ReducedPackages)]
    [MemberData(nameof(GoldenDecoderTests.CaseNames), MemberType = typeof(GoldenDecoderTests))]
    public void Argmax_edit_outputs_match_the_reference(string caseName)
    {
        Assert.True(ReducedPackages.Argmax.Manifest.EditHeadArgmax);
        GoldenDecoderTests.AssertCase(ReducedPackages.Argmax, caseName);
    }

    [SetupTheory(TestSetup.ReducedPackages)]
    [MemberData(nameof(GoldenDecoderTests.CaseNames), MemberType = typeof(GoldenDecoderTests))]
    public void Top_k_and_argmax_outputs_match_the_reference_or_refuse_full_row_settings(string caseName)
    {
        ModelPackage package = ReducedPackages.Reduced;
        Assert.True(package.Manifest.EditHeadArgmax);
        Assert.Equal(16, package.Manifest.DenoiserTopK);
        JsonElement settings = GoldenDecoderTests.Case(caseName).GetProperty("settings");
        bool needsFullRows = settings.TryGetProperty("temperature", out _) || settings.TryGetProperty("cfg_scale", out _);
        if (!needsFullRows)
        {
            GoldenDecoderTests.AssertCase(package, caseName);
            return;
        }
        // Sampling and guidance read whole rows: the top-K form refuses them at planning, before any pass.
        using var generator = new Generator(package);
        GenerationRequest request = GoldenDecoderTests.Requests(GoldenDecoderTests.Case(caseName))[0];
        var e = Assert.Throws<GenerationRequestException>(() => generator.Generate(request));
        Assert.Contains("outputs the top-16 logits per position", e.Message, StringComparison.Ordinal);
    }

    [SetupFact(TestSetup.ReducedPackages)]
    public void Next_argmax_and_probability_agree_between_the_full_and_argmax_forms()
    {
        using var full = new ModelRunner(TestModels.TinyPackage);
        using var argmax = new ModelRunner(ReducedPackages.Argmax);
        int checkedPositions = 0;
        for (int pass = 0; pass < 3; pass++)
        {
            foreach (ModelRunner runner in (ModelRunner[])[full, argmax])
            {
                runner.SetShape(2, 40);
                Span<long> ids = runner.InputIds;
                for (int i = 0; i < ids.Length; i++)
                {
                    ids[i] = ((i * 31) + (pass * 7)) % 588;
                }
                runner.AttentionMask.Fill(1);
                runner.Run(withEditHead: true, CancellationToken.None);
            }
            var fullView = new LogitsView(full, withNext: true);
            var argmaxView = new LogitsView(argmax, withNext: true);
            Assert.False(fullView.NextArgmaxForm);
            Assert.True(argmaxView.NextArgmaxForm);
            Assert.False(fullView.NextIsExact);
            Assert.True(argmaxView.NextIsExact);
            for (int at = 0; at < full.Batch * full.Seq; at++)
            {
                int a = fullView.NextArgmax(at, out double pa);
                int b = argmaxView.NextArgmax(at, out double pb);
                Assert.Equal(a, b);
                Assert.Equal(a, fullView.NextArgmax(at));
                Assert.InRange(pb, 0.0, 1.0);
                // The full form's fast kernel is within ArgmaxProbabilityError of float64; the graph's float32 within 1e-6.
                Assert.True(Math.Abs(pa - pb) <= MeDlm.Kernels.Confidence.ArgmaxProbabilityError + 1e-6,
                    $"pass {pass} position {at}: probability {pa} (full) vs {pb} (argmax form)");
                checkedPositions++;
            }
        }
        Assert.True(checkedPositions >= 3 * 80);
        Assert.Throws<InvalidOperationException>(() => new LogitsView(argmax, withNext: true).NextRow(0).Length);
    }

    [SetupFact(TestSetup.ReducedPackages)]
    public void Host_bytes_per_position_follow_the_output_forms()
    {
        using var full = new ModelRunner(TestModels.TinyPackage);
        using var argmax = new ModelRunner(ReducedPackages.Argmax);
        using var reduced = new ModelRunner(ReducedPackages.Reduced);
        int vocab = TestModels.TinyPackage.Manifest.VocabSize;
        int specials = ReducedPackages.Reduced.Manifest.TopKSpecialIds.Count;
        Assert.Equal(4 * vocab, full.DenoiserHostBytesPerPosition);
        Assert.Equal(4 * vocab, full.EditHostBytesPerPosition);
        Assert.Equal(4 * vocab, argmax.DenoiserHostBytesPerPosition);
        Assert.Equal(12, argmax.EditHostBytesPerPosition);
        Assert.Equal((16 * 12) + 4 + (4 * specials), reduced.DenoiserHostBytesPerPosition);
        Assert.Equal(12, reduced.EditHostBytesPerPosition);
        foreach ((string name, ModelRunner r) in (ReadOnlySpan<(string, ModelRunner)>)[("full", full), ("argmax edit", argmax), ("top-16 + argmax edit", reduced)])
        {
            output.WriteLine($"{name}: mask pass {ModelRunner.InputBytesPerPosition + r.DenoiserHostBytesPerPosition} B/position, " +
                $"edit round {ModelRunner.InputBytesPerPosition + r.DenoiserHostBytesPerPosition + r.EditHostBytesPerPosition} B/position (inputs {ModelRunner.InputBytesPerPosition})");
        }
    }
}
