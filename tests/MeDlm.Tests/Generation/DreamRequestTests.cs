using MeDlm.Decoding;
using MeDlm.Generation;
using MeDlm.Model;

namespace MeDlm.Tests.Generation;

/// <summary>What a Dream package accepts and what it refuses, and the manifest checks of Dream packages.</summary>
public sealed class DreamRequestTests
{
    private static readonly int[] Prompt = [5, 6, 7];

    public static TheoryData<GenerationRequest, string> RefusedOnDream => new()
    {
        { new() { PromptTokenIds = Prompt, EditSteps = 2 }, "no edit head" },
        { new() { PromptTokenIds = Prompt, Algorithm = DecodingAlgorithm.LowConfidence }, "Dream package" },
        { new() { PromptTokenIds = Prompt, CfgScale = 0.5 }, "LLaDA" },
        { new() { PromptTokenIds = Prompt, BlockLength = 8 }, "one block" },
        { new() { PromptTokenIds = Prompt, TopP = 0 }, "TopP must be in (0, 1]" },
        { new() { PromptTokenIds = Prompt, TopK = -1 }, "TopK must be >= 0" },
        { new() { PromptTokenIds = Prompt, AlgTemp = double.PositiveInfinity }, "AlgTemp must be" },
        { new() { PromptTokenIds = Prompt, Eps = 1 }, "Eps must be in (0, 1)" },
    };

    [Theory]
    [MemberData(nameof(RefusedOnDream))]
    public void Settings_that_make_no_sense_for_a_Dream_package_are_refused(GenerationRequest request, string message)
    {
        using var generator = new Generator(TestModels.DreamPackage);
        var e = Assert.Throws<GenerationRequestException>(() => generator.Generate(request));
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
    }

    public static TheoryData<GenerationRequest> DreamOnly => new()
    {
        new GenerationRequest { PromptTokenIds = Prompt, Algorithm = DecodingAlgorithm.Entropy },
        new GenerationRequest { PromptTokenIds = Prompt, TopP = 0.9 },
        new GenerationRequest { PromptTokenIds = Prompt, AlgTemp = 0.5 },
    };

    [Theory]
    [MemberData(nameof(DreamOnly))]
    public void Dream_settings_on_other_packages_are_refused(GenerationRequest request)
    {
        using var generator = new Generator(TestModels.FixturePackage);
        var e = Assert.Throws<GenerationRequestException>(() => generator.Generate(request));
        Assert.Contains("Dream", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_manifest_defaults_apply_when_the_request_says_nothing()
    {
        using var generator = new Generator(TestModels.DreamPackage);
        GenerationDefaults d = TestModels.DreamPackage.Manifest.Generation;
        Assert.Equal(DecodingAlgorithm.MaskGitPlus, d.Algorithm);
        GenerationResult byDefault = generator.Generate(new GenerationRequest { PromptTokenIds = Prompt });
        GenerationResult spelled = generator.Generate(new GenerationRequest
        {
            PromptTokenIds = Prompt, GenLength = d.GenLength, Algorithm = DecodingAlgorithm.MaskGitPlus,
            MaskSteps = d.GenLength / 2, TopP = 1, TopK = 0, AlgTemp = 0, Eps = 1e-3,
        });
        Assert.Equal(d.GenLength / 2, byDefault.Stats.MaskPasses);
        Assert.Equal(spelled.TokenIds, byDefault.TokenIds);
        Assert.DoesNotContain(TestModels.DreamPackage.Manifest.SpecialTokens.Mask, byDefault.TokenIds);
    }

    [Fact]
    public void The_plan_carries_the_Dream_settings_through_a_new_cancellation_token()
    {
        using var generator = new Generator(TestModels.DreamPackage);
        GenerationPlan plan = generator.Plan(new GenerationRequest { PromptTokenIds = Prompt, TopP = 0.8, TopK = 7, AlgTemp = 0.4, Eps = 0.01 });
        using var cts = new CancellationTokenSource();
        GenerationPlan again = plan.WithCancellation(cts.Token);
        Assert.Equal((0.8, 7, 0.4, 0.01), (plan.TopP, plan.TopK, plan.AlgTemp, plan.Eps));
        Assert.Equal((plan.TopP, plan.TopK, plan.AlgTemp, plan.Eps), (again.TopP, again.TopK, again.AlgTemp, again.Eps));
    }

    [Theory]
    [InlineData("\"shifted_logits\": true", "\"shifted_logits\": false", "needs shifted_logits true")]
    [InlineData("\"algorithm\": \"maskgit_plus\"", "\"algorithm\": \"low_confidence\"", "does not decode a Dream package")]
    [InlineData("\"top_p\": 1.0", "\"top_p\": 1.5", "generation.top_p")]
    [InlineData("\"eps\": 0.001", "\"eps\": 0", "generation.eps")]
    public void Broken_Dream_manifests_fail_to_load(string find, string replace, string message)
    {
        string dir = Directory.CreateTempSubdirectory("medlm-dream-").FullName;
        try
        {
            foreach (string f in Directory.GetFiles(TestModels.DreamPackagePath))
            {
                File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
            }
            string manifest = Path.Combine(dir, "medlm.json");
            string text = File.ReadAllText(manifest);
            Assert.Contains(find, text, StringComparison.Ordinal);
            File.WriteAllText(manifest, text.Replace(find, replace, StringComparison.Ordinal));
            var e = Assert.Throws<ModelLoadException>(() => ModelPackage.Load(dir));
            Assert.Contains(message, e.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
