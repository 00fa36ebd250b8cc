using MeDlm.Generation;

namespace MeDlm.Tests.Generation;

/// <summary>
/// Per-request cancellation inside a lockstep batch (GenerationRequest.CancellationToken): the cancelled
/// row leaves at the next step, the other rows finish exactly as they would alone.
/// </summary>
public sealed class RowCancellationTests
{
    private static GenerationRequest Request(string prompt, CancellationToken ct = default) => new()
    {
        Prompt = prompt,
        CancellationToken = ct,
    };

    [Fact]
    public void A_row_cancelled_before_the_batch_runs_no_pass_and_the_others_match_their_solo_results()
    {
        using var generator = new Generator(TestModels.FixturePackage);
        using var cts = new CancellationTokenSource();
        cts.Cancel();

        IReadOnlyList<GenerationResult> batch = generator.GenerateBatch([Request("one"), Request("two two", cts.Token), Request("three three three")]);

        Assert.True(batch[1].Cancelled);
        Assert.Equal(0, batch[1].Stats.TotalPasses);
        foreach (int r in new[] { 0, 2 })
        {
            GenerationResult alone = generator.Generate(Request(r == 0 ? "one" : "three three three"));
            Assert.False(batch[r].Cancelled);
            Assert.False(alone.Cancelled);
            Assert.Equal(alone.TokenIds, batch[r].TokenIds);
            Assert.Equal(alone.Stats.TotalPasses, batch[r].Stats.TotalPasses);
        }
    }

    [Fact]
    public async Task A_row_cancelled_mid_run_gets_no_further_step_while_the_others_finish()
    {
        using var generator = new Generator(TestModels.FixturePackage);
        using var cts = new CancellationTokenSource();
        string[] prompts = ["alpha", "beta beta", "gamma gamma gamma"];
        GenerationRequest[] requests = [Request(prompts[0]), Request(prompts[1], cts.Token), Request(prompts[2])];
        var stepsSeen = new int[3];
        var results = new GenerationResult?[3];

        await foreach (GenerationStep step in generator.GenerateBatchStreamingAsync(requests))
        {
            stepsSeen[step.RequestIndex]++;
            if (step.RequestIndex == 1 && stepsSeen[1] == 2)
            {
                cts.Cancel();
            }
            if (step.Result is not null)
            {
                results[step.RequestIndex] = step.Result;
            }
        }

        Assert.Equal(2, stepsSeen[1]);
        Assert.Null(results[1]);
        foreach (int r in new[] { 0, 2 })
        {
            GenerationResult alone = generator.Generate(Request(prompts[r]));
            Assert.NotNull(results[r]);
            Assert.Equal(alone.TokenIds, results[r]!.TokenIds);
            Assert.True(stepsSeen[r] > 2);
        }
    }

    [Fact]
    public void A_batch_whose_every_row_is_cancelled_ends_at_once()
    {
        using var generator = new Generator(TestModels.FixturePackage);
        using var cts = new CancellationTokenSource();
        cts.Cancel();

        IReadOnlyList<GenerationResult> batch = generator.GenerateBatch([Request("a", cts.Token), Request("b", cts.Token)]);

        Assert.All(batch, r => Assert.True(r.Cancelled));
        Assert.All(batch, r => Assert.Equal(0, r.Stats.TotalPasses));
    }
}
