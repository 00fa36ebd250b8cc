using MeDlm.Decoding;
using MeDlm.Generation;
using MeDlm.Model;

namespace MeDlm.Tests.Decoding;

/// <summary>The token bans a row plan derives per algorithm (docs/DESIGN.md §2).</summary>
public sealed class RowPlanTests
{
    [Fact]
    public void Bans_follow_the_reference_per_algorithm()
    {
        var ids = new SpecialTokens(Mask: 9, Pad: 8, Delete: 7, End: 6, Eos: 8);
        RowPlan Plan(DecodingAlgorithm a, double temperature, bool eos, bool conf) =>
            new(0, new GenerationPlan([1], 4, 4, a, 4, 0, temperature, 0, 0.9, 0, eos, conf, 16, CancellationToken.None), ids);

        RowPlan medlm = Plan(DecodingAlgorithm.MeDlm, 0, false, false);
        Assert.Equal([7], medlm.ArgmaxBan);
        Assert.Equal([8], medlm.NormaliserBan);
        Assert.True(medlm.Transition);

        RowPlan plain = Plan(DecodingAlgorithm.LowConfidence, 0, false, false);
        Assert.Empty(plain.ArgmaxBan);
        Assert.Empty(plain.NormaliserBan);
        Assert.False(plain.Transition);

        RowPlan both = Plan(DecodingAlgorithm.LowConfidence, 0, true, true);
        Assert.Equal([8], both.ArgmaxBan);
        Assert.Equal([6, 8], both.NormaliserBan);

        // With a temperature LLaDA only bans END from the confidence (its noisy logits are another tensor).
        RowPlan hot = Plan(DecodingAlgorithm.LowConfidence, 0.7, false, true);
        Assert.Empty(hot.ArgmaxBan);
        Assert.Equal([6], hot.NormaliserBan);
    }
}
