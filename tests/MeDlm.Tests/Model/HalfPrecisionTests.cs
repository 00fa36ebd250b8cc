using MeDlm.Generation;
using MeDlm.Model;
using MeDlm.Sessions;
using MeDlm.Tests.Generation;

namespace MeDlm.Tests.Model;

/// <summary>Float16 packages: half outputs are widened for the kernels; the hidden states go to the edit head as they are.</summary>
public sealed class HalfPrecisionTests
{
    private static string Fp16Path => Path.Combine(TestModels.RepoRoot, "tests", "fixtures", "packages", "tiny-fixture-fp16");

    [Fact]
    public void Float16_outputs_match_the_float32_package_within_half_precision()
    {
        using var half = ModelPackage.Load(Fp16Path);
        Assert.Equal("float16", half.Manifest.DType);
        using var halfRunner = new ModelRunner(half);
        using var fullRunner = new ModelRunner(TestModels.FixturePackage);
        foreach (ModelRunner r in new[] { halfRunner, fullRunner })
        {
            r.SetShape(2, 6);
            for (int i = 0; i < 12; i++)
            {
                r.InputIds[i] = 100 + (7 * i);
                r.AttentionMask[i] = i % 6 < 5 ? 1 : 0;
            }
            r.Run(true, CancellationToken.None);
        }
        float worst = 0, worstNext = 0;
        for (int i = 0; i < fullRunner.Logits.Length; i++)
        {
            worst = Math.Max(worst, Math.Abs(halfRunner.Logits[i] - fullRunner.Logits[i]));
            worstNext = Math.Max(worstNext, Math.Abs(halfRunner.NextLogits[i] - fullRunner.NextLogits[i]));
        }
        Assert.InRange(worst, 0f, 0.25f);
        Assert.InRange(worstNext, 0f, 0.25f);
    }

    [Fact]
    public void Float16_package_generates()
    {
        using var half = ModelPackage.Load(Fp16Path);
        using var generator = new Generator(half);
        GenerationResult r = generator.Generate(new GenerationRequest { Prompt = "ann has 3 pens", MaskSteps = 8, EditSteps = 2 });
        Assert.Equal(8, r.Stats.MaskPasses);
        Assert.InRange(r.Stats.EditPasses, 1, 2);
        Assert.NotEmpty(r.TokenIds);
    }
}
