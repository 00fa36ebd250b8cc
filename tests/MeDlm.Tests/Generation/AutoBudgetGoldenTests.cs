using System.Text.Json;
using MeDlm.Generation;
using MeDlm.Model;

namespace MeDlm.Tests.Generation;

/// <summary>
/// Budget auto is only a combination of existing modes (docs/DESIGN.md §2.11): on the bundled model, whose manifest
/// ships a measured <c>generation.auto</c>, a batch with <see cref="GenerationRequest.AutoBudget"/> gives exactly the
/// tokens, drafts, passes and edits of the same batch with the auto setting's values written out explicitly.
/// </summary>
public sealed class AutoBudgetGoldenTests
{
    [Fact]
    public void Bundled_budget_auto_gives_the_tokens_of_its_explicit_settings()
    {
        ModelPackage package = TestModels.TinyPackage;
        AutoSetting auto = Assert.IsType<AutoSetting>(package.Manifest.Generation.Auto);
        using var generator = new Generator(package);
        var prompts = new List<int[]>();
        foreach (string name in new[] { "medlm_1-1", "llada_low_confidence" })
        {
            foreach (JsonElement row in GoldenDecoderTests.Case(name).GetProperty("rows").EnumerateArray())
            {
                prompts.Add([.. row.GetProperty("prompt_ids").EnumerateArray().Select(e => e.GetInt32())]);
            }
        }
        GenerationRequest[] autoRequests = [.. prompts.Select(p => new GenerationRequest { PromptTokenIds = p, AutoBudget = true })];
        GenerationRequest[] explicitRequests =
        [
            .. prompts.Select(p => new GenerationRequest
            {
                PromptTokenIds = p, Algorithm = auto.Algorithm, Budget = auto.Budget, BlockLength = auto.BlockLength, Threshold = auto.Threshold,
                MaskSteps = auto.MaskSteps, EditSteps = auto.EditRounds, EditThreshold = auto.EditThreshold, SwitchThreshold = auto.SwitchThreshold,
            }),
        ];
        IReadOnlyList<GenerationResult> a = generator.GenerateBatch(autoRequests);
        IReadOnlyList<GenerationResult> e = generator.GenerateBatch(explicitRequests);
        Assert.Equal(prompts.Count, a.Count);
        for (int i = 0; i < a.Count; i++)
        {
            Assert.Equal(e[i].TokenIds, a[i].TokenIds);
            Assert.Equal(e[i].DraftTokenIds, a[i].DraftTokenIds);
            Assert.Equal(e[i].Stats.MaskPasses, a[i].Stats.MaskPasses);
            Assert.Equal(e[i].Stats.EditPasses, a[i].Stats.EditPasses);
            Assert.Equal(e[i].Stats.Edits, a[i].Stats.Edits);
            Assert.Equal(e[i].Text, a[i].Text);
        }
        GenerationPlan plan = generator.Plan(autoRequests[0]);
        Assert.Equal(auto.Algorithm, plan.Algorithm);
        Assert.Equal(auto.EditThreshold ?? package.Manifest.Generation.EditThreshold, plan.EditThreshold);
        Assert.Equal(auto.SwitchThreshold ?? package.Manifest.Generation.SwitchThreshold, plan.SwitchThreshold);
    }
}
