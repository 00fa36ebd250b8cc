using MeDlm.Decoding;
using MeDlm.Generation;

namespace MeDlm.Tests.Generation;

/// <summary>Continuous batching: sequences join and leave a running batch, and each gives what it gives alone.</summary>
public sealed class ContinuousBatchingTests
{
    private static readonly GenerationRequest[] Requests =
    [
        new() { Prompt = "write add_k(items) with k = 13" },
        new() { Prompt = "write sum_gt(vals) with k = 22", Budget = 0.25 },
        new() { Prompt = "ann has 3 pens and gets 5 more. how many pens now?", Budget = 0.5 },
        new() { Prompt = "write count_gt(data) with k = 7", Budget = 0.125 },
        new() { Prompt = "write mul_k(vals) with k = 4", Algorithm = DecodingAlgorithm.Threshold, Threshold = 0.9, EditSteps = 2 },
        new() { Prompt = "tom has 7 apples and buys 5 more. how many apples does he have now?", GenLength = 24, MaskSteps = 6, EditSteps = 3 },
        new() { Prompt = "write keep_lt(xs) with k = 8", Algorithm = DecodingAlgorithm.LowConfidence, BlockLength = 16, MaskSteps = 12, EditSteps = 0 },
        new() { Prompt = "write add_k(items) with k = 2", Temperature = 0.8, Seed = 5, Budget = 0.5 },
    ];

    [Fact]
    public void Sequences_that_join_a_running_batch_give_what_they_give_alone()
    {
        using var generator = new Generator(TestModels.TinyPackage);
        GenerationResult[] alone = Requests.Select(r => generator.Generate(r)).ToArray();

        var results = new GenerationResult?[Requests.Length];
        var batchSizes = new List<int>();
        var passSizes = new List<int>();
        int offered = 0;
        int calls = 0;
        // One new request on every other pass: the batch is never the same twice.
        generator.RunContinuous(free =>
        {
            Assert.InRange(free, 1, 3);
            if (calls++ % 2 == 1 || offered == Requests.Length)
            {
                return [];
            }
            int i = offered++;
            return [new ContinuousRequest(Requests[i], r => results[i] = r, e => throw e) { OnStarted = n => batchSizes.Add(n) }];
        }, maxBatchSize: 3, onPass: passSizes.Add);

        Assert.Equal(Requests.Length, offered);
        Assert.Contains(3, batchSizes);
        Assert.All(batchSizes, n => Assert.InRange(n, 1, 3));
        // Every sequence takes part in exactly its own passes: the rows of all passes add up to them.
        Assert.All(passSizes, n => Assert.InRange(n, 1, 3));
        Assert.Equal(alone.Sum(r => r.Stats.TotalPasses), passSizes.Sum());
        for (int i = 0; i < Requests.Length; i++)
        {
            GenerationResult r = Assert.IsType<GenerationResult>(results[i]);
            Assert.False(r.Cancelled);
            Assert.Equal(alone[i].TokenIds, r.TokenIds);
            Assert.Equal(alone[i].DraftTokenIds, r.DraftTokenIds);
            Assert.Equal(alone[i].Stats.TotalPasses, r.Stats.TotalPasses);
            Assert.Equal(alone[i].Text, r.Text);
        }
    }

    [Fact]
    public void A_bad_request_is_rejected_alone_and_steps_reach_only_their_watcher()
    {
        using var generator = new Generator(TestModels.TinyPackage);
        GenerationResult expected = generator.Generate(Requests[1]);
        var steps = new List<GenerationStep>();
        ArgumentException? rejected = null;
        GenerationResult? watched = null;
        GenerationResult? other = null;
        bool given = false;

        generator.RunContinuous(free =>
        {
            if (given)
            {
                return [];
            }
            given = true;
            return
            [
                new ContinuousRequest(new GenerationRequest { Prompt = "x", GenLength = 500 }, _ => Assert.Fail("ran"), e => rejected = e),
                new ContinuousRequest(Requests[1], r => watched = r, e => throw e) { OnStep = steps.Add },
                new ContinuousRequest(Requests[0], r => other = r, e => throw e),
            ];
        }, maxBatchSize: 8);

        Assert.NotNull(rejected);
        Assert.Contains("maximum context length", rejected.Message, StringComparison.Ordinal);
        Assert.Equal(expected.TokenIds, watched!.TokenIds);
        Assert.NotNull(other);
        Assert.All(steps, s => Assert.Equal(steps[0].RequestIndex, s.RequestIndex));
        Assert.Equal(expected.Stats.TotalPasses, steps.Count(s => s.Stage != GenerationStage.Transition));
        Assert.Equal(expected.TokenIds, steps[^1].TokenIds);
    }

    [Fact]
    public void A_cancelled_sequence_leaves_and_the_others_finish()
    {
        using var generator = new Generator(TestModels.TinyPackage);
        GenerationResult expected = generator.Generate(Requests[0]);
        using var cancel = new CancellationTokenSource();
        GenerationResult? cancelled = null;
        GenerationResult? kept = null;
        bool given = false;
        int steps = 0;

        generator.RunContinuous(free =>
        {
            if (given)
            {
                return [];
            }
            given = true;
            var doomed = new GenerationRequest { Prompt = "write sum_gt(vals) with k = 22", CancellationToken = cancel.Token };
            return
            [
                new ContinuousRequest(doomed, r => cancelled = r, e => throw e) { OnStep = _ => { if (++steps == 3) { cancel.Cancel(); } } },
                new ContinuousRequest(Requests[0], r => kept = r, e => throw e),
            ];
        }, maxBatchSize: 2);

        Assert.True(cancelled!.Cancelled);
        Assert.Equal(3, cancelled.Stats.TotalPasses);
        Assert.Equal(expected.TokenIds, kept!.TokenIds);
    }

    [Fact]
    public void A_run_with_nothing_to_do_returns_at_once()
    {
        using var generator = new Generator(TestModels.FixturePackage);
        int calls = 0;
        generator.RunContinuous(_ => { calls++; return []; }, maxBatchSize: 4);
        Assert.Equal(1, calls);
        Assert.Throws<ArgumentOutOfRangeException>(() => generator.RunContinuous(_ => [], 0));
        var one = new GenerationRequest { Prompt = "write add_k(items) with k = 13" };
        InvalidOperationException tooMany = Assert.Throws<InvalidOperationException>(() => generator.RunContinuous(
            _ => [new ContinuousRequest(one, _ => { }, e => throw e), new ContinuousRequest(one, _ => { }, e => throw e)], maxBatchSize: 1));
        Assert.Contains("2 requests for 1 free slots", tooMany.Message, StringComparison.Ordinal);
    }
}
