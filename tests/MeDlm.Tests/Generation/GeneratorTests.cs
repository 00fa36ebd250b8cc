using MeDlm.Decoding;
using MeDlm.Generation;
using MeDlm.Tokenization;

namespace MeDlm.Tests.Generation;

/// <summary>Generator behaviour on the fixture package: results, streaming, cancellation, batching and concurrency.</summary>
public sealed class GeneratorTests
{
    private static GenerationRequest Request(int seed = 0, DecodingAlgorithm algorithm = DecodingAlgorithm.MeDlm, int editSteps = 3) => new()
    {
        Prompt = "write sum_gt(xs) with k = 9",
        Algorithm = algorithm,
        MaskSteps = 8,
        EditSteps = editSteps,
        Seed = seed,
    };

    [Fact]
    public void Result_reports_passes_commits_and_times()
    {
        using var generator = new Generator(TestModels.FixturePackage);
        GenerationResult r = generator.Generate(Request());
        GenerationStats s = r.Stats;
        Assert.Equal(8, s.MaskPasses);
        Assert.Equal(8, s.TokensCommittedPerPass.Count);
        Assert.Equal(16, s.TokensCommittedPerPass.Sum()); // G = 16 from the manifest, two per pass
        Assert.All(s.TokensCommittedPerPass, k => Assert.Equal(2, k));
        Assert.Equal(s.TokensCommittedPerPass.Count, s.CommittedPositions.Count);
        Assert.InRange(s.EditPasses, 1, 3);
        Assert.Equal(3, s.PlannedEditRounds);
        Assert.Equal(3 - s.EditPasses, s.EditRoundsSaved);
        if (s.EditRoundsSaved > 0)
        {
            Assert.True(s.ReachedFixedPoint); // only the fixed point ends edit rounds early
        }
        Assert.Equal(r.PromptTokenIds.Count, s.PromptTokens);
        Assert.True(s.ModelTime > TimeSpan.Zero);
        Assert.True(s.OverheadTime >= TimeSpan.Zero);
        Assert.Equal(TestModels.FixturePackage.Manifest.SpecialTokens.End, r.DraftTokenIds[^1]); // END written last before edits
        Assert.True(r.TokenIds.Count <= TestModels.FixturePackage.Manifest.MaxSequenceLength - s.PromptTokens);
    }

    [Fact]
    public void Text_stops_at_the_first_end_token()
    {
        using var generator = new Generator(TestModels.FixturePackage);
        GenerationResult r = generator.Generate(Request(editSteps: 0));
        var tokenizer = TestModels.FixturePackage.Tokenizer;
        int end = TestModels.FixturePackage.Manifest.SpecialTokens.End;
        int pad = TestModels.FixturePackage.Manifest.SpecialTokens.Pad;
        int stop = 0;
        while (stop < r.TokenIds.Count && r.TokenIds[stop] != end && r.TokenIds[stop] != pad)
        {
            stop++;
        }
        Assert.Equal(tokenizer.Decode([.. r.TokenIds.Take(stop)], skipSpecialTokens: true), r.Text);
    }

    [Theory]
    [InlineData(6, true)]
    [InlineData(48, false)]
    public void An_answer_cut_by_the_generation_length_says_so(int genLength, bool cut)
    {
        using var generator = new Generator(TestModels.TinyPackage);
        var result = generator.Generate(new GenerationRequest { Prompt = "write add_k(items) with k = 13", GenLength = genLength });

        Assert.Equal(cut, result.ReachedLengthLimit);
        int end = result.TokenIds.ToList().FindIndex(id => id == TestModels.TinyPackage.Manifest.SpecialTokens.End);
        Assert.True(end >= 0, "the between-stages transform ends the canvas with END");
        Assert.Equal(cut, end >= genLength - 1);
        Assert.StartsWith("def add_k", result.Text, StringComparison.Ordinal);
    }

    [Fact]
    public void Messages_use_the_chat_template()
    {
        using var generator = new Generator(TestModels.FixturePackage);
        GenerationResult fromPrompt = generator.Generate(Request());
        GenerationResult fromMessages = generator.Generate(new GenerationRequest
        {
            Messages = [ChatMessage.User("write sum_gt(xs) with k = 9")],
            MaskSteps = 8,
            EditSteps = 3,
        });
        Assert.Equal(fromPrompt.PromptTokenIds, fromMessages.PromptTokenIds);
        Assert.Equal(fromPrompt.TokenIds, fromMessages.TokenIds);
    }

    [Fact]
    public async Task Streaming_replays_to_the_same_result()
    {
        using var generator = new Generator(TestModels.FixturePackage);
        GenerationResult expected = generator.Generate(Request());
        var steps = new List<GenerationStep>();
        await foreach (GenerationStep step in generator.GenerateStreamingAsync(Request()))
        {
            steps.Add(step);
        }
        int maskSteps = steps.Count(s => s.Stage == GenerationStage.Unmasking);
        Assert.Equal(expected.Stats.MaskPasses, maskSteps);
        Assert.Single(steps, s => s.Stage == GenerationStage.Transition);
        Assert.Equal(expected.Stats.EditPasses, steps.Count(s => s.Stage == GenerationStage.Editing));
        for (int i = 0; i < maskSteps; i++)
        {
            Assert.Equal(i, steps[i].PassIndex);
            Assert.Equal(expected.Stats.TokensCommittedPerPass[i], steps[i].Changes.Count);
            Assert.All(steps[i].Changes, c => Assert.Equal(TokenChangeKind.Unmasked, c.Kind));
        }
        GenerationStep last = steps[^1];
        Assert.True(last.IsFinal);
        Assert.Single(steps, s => s.IsFinal);
        Assert.Equal(expected.TokenIds, last.TokenIds);
        Assert.Equal(expected.TokenIds, last.Result!.TokenIds);
        Assert.Equal(expected.DraftTokenIds, last.Result.DraftTokenIds);

        // Every step's changes turn the previous canvas into the new one.
        IReadOnlyList<int> canvas = Enumerable.Repeat(TestModels.FixturePackage.Manifest.SpecialTokens.Mask, 16).ToArray();
        foreach (GenerationStep step in steps)
        {
            Assert.Equal(step.TokenIds, Apply(canvas, step.Changes));
            canvas = step.TokenIds;
        }
    }

    /// <summary>Applies a step's changes: deletions index the old canvas; the rest index the new one.</summary>
    private static List<int> Apply(IReadOnlyList<int> before, IReadOnlyList<TokenChange> changes)
    {
        var kept = new List<int>();
        for (int i = 0; i < before.Count; i++)
        {
            if (!changes.Any(c => c.Kind == TokenChangeKind.Deleted && c.Position == i))
            {
                kept.Add(before[i]);
            }
        }
        foreach (TokenChange c in changes.Where(c => c.Kind == TokenChangeKind.Inserted).OrderBy(c => c.Position))
        {
            kept.Insert(c.Position, c.NewTokenId);
        }
        foreach (TokenChange c in changes.Where(c => c.Kind is TokenChangeKind.Replaced or TokenChangeKind.Unmasked))
        {
            Assert.Equal(c.OldTokenId, kept[c.Position]);
            kept[c.Position] = c.NewTokenId;
        }
        return kept;
    }

    [Fact]
    public async Task Cancelling_after_the_first_step_throws_and_the_generator_still_works()
    {
        using var generator = new Generator(TestModels.FixturePackage);
        GenerationResult expected = generator.Generate(Request());
        using var cts = new CancellationTokenSource();
        int seen = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (GenerationStep step in generator.GenerateStreamingAsync(Request(), cts.Token))
            {
                seen++;
                cts.Cancel();
            }
        });
        Assert.Equal(1, seen);
        GenerationResult again = generator.Generate(Request());
        Assert.Equal(expected.TokenIds, again.TokenIds);
        Assert.Equal(expected.Stats.CommittedPositions.SelectMany(p => p), again.Stats.CommittedPositions.SelectMany(p => p));
    }

    [Fact]
    public void Cancelled_token_stops_a_blocking_generation()
    {
        using var generator = new Generator(TestModels.FixturePackage);
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => generator.Generate(Request(), cts.Token));
        Assert.NotEmpty(generator.Generate(Request()).TokenIds);
    }

    [Fact]
    public async Task Cancelling_a_batch_midway_leaves_the_generator_usable()
    {
        using var generator = new Generator(TestModels.FixturePackage);
        using var cts = new CancellationTokenSource();
        var requests = Enumerable.Range(0, 4).Select(i => Request(seed: i)).ToArray();
        int steps = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (GenerationStep step in generator.GenerateBatchStreamingAsync(requests, cts.Token))
            {
                if (++steps == 6)
                {
                    cts.Cancel();
                }
            }
        });
        IReadOnlyList<GenerationResult> results = generator.GenerateBatch(requests);
        Assert.Equal(4, results.Count);
    }

    [Fact]
    public void Mixed_batch_equals_each_request_alone()
    {
        using var generator = new Generator(TestModels.FixturePackage);
        GenerationRequest[] requests =
        [
            Request(),
            new() { PromptTokenIds = [591, 40, 41, 42, 43, 44, 45, 46, 47], Algorithm = DecodingAlgorithm.LowConfidence, MaskSteps = 8, EditSteps = 0, CfgScale = 0.5 },
            new() { PromptTokenIds = [591, 50], Algorithm = DecodingAlgorithm.Random, MaskSteps = 4, BlockLength = 4, EditSteps = 2, Temperature = 0.8, Seed = 7 },
            new() { PromptTokenIds = [591, 60, 61], Algorithm = DecodingAlgorithm.Threshold, Threshold = 0.3, BlockLength = 8, EditSteps = 1, LengthCap = 24 },
            new() { Prompt = "ann has 3 pens", Algorithm = DecodingAlgorithm.LowConfidence, MaskSteps = 16, EditSteps = 0, LogitsEosInf = true, ConfidenceEosEotInf = true, Temperature = 0.5, Seed = 3 },
        ];
        IReadOnlyList<GenerationResult> batch = generator.GenerateBatch(requests);
        for (int i = 0; i < requests.Length; i++)
        {
            GenerationResult alone = generator.Generate(requests[i]);
            Assert.Equal(alone.TokenIds, batch[i].TokenIds);
            Assert.Equal(alone.DraftTokenIds, batch[i].DraftTokenIds);
            Assert.Equal(alone.Stats.MaskPasses, batch[i].Stats.MaskPasses);
            Assert.Equal(alone.Stats.EditPasses, batch[i].Stats.EditPasses);
            Assert.Equal(alone.Stats.Edits, batch[i].Stats.Edits);
        }
        Assert.True(batch[3].PromptTokenIds.Count + batch[3].TokenIds.Count <= 24); // the length cap holds
    }

    [Fact]
    public void Seeds_change_sampled_results_and_are_reproducible()
    {
        using var generator = new Generator(TestModels.FixturePackage);
        GenerationRequest Sampled(int seed) => new()
        {
            Prompt = "ann has 3 pens",
            Algorithm = DecodingAlgorithm.LowConfidence,
            MaskSteps = 4,
            EditSteps = 0,
            Temperature = 5.0,
            Seed = seed,
        };
        Assert.Equal(generator.Generate(Sampled(1)).TokenIds, generator.Generate(Sampled(1)).TokenIds);
        Assert.Contains(Enumerable.Range(2, 5), s => !generator.Generate(Sampled(s)).TokenIds.SequenceEqual(generator.Generate(Sampled(1)).TokenIds));
    }

    [Fact]
    public async Task Concurrent_callers_get_the_sequential_results()
    {
        using var generator = new Generator(TestModels.FixturePackage);
        GenerationRequest[] requests = [.. Enumerable.Range(0, 8).Select(i => new GenerationRequest
        {
            PromptTokenIds = [.. Enumerable.Range(100, 1 + i)],
            Algorithm = i % 2 == 0 ? DecodingAlgorithm.MeDlm : DecodingAlgorithm.Random,
            MaskSteps = 8,
            EditSteps = i % 3,
            Seed = i,
        })];
        GenerationResult[] sequential = [.. requests.Select(r => generator.Generate(r))];
        GenerationResult[] parallel = await Task.WhenAll(requests.Select(r => generator.GenerateAsync(r)));
        for (int i = 0; i < requests.Length; i++)
        {
            Assert.Equal(sequential[i].TokenIds, parallel[i].TokenIds);
        }
    }

    [Fact]
    public void Stage_one_only_model_rejects_edit_rounds_and_generates_without_them()
    {
        string dir = Path.Combine(Path.GetTempPath(), "medlm-llada-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            foreach (string f in new[] { "denoiser.onnx", "tokenizer.json" })
            {
                File.Copy(Path.Combine(TestModels.FixturePackagePath, f), Path.Combine(dir, f));
            }
            string manifest = File.ReadAllText(Path.Combine(TestModels.FixturePackagePath, "medlm.json"))
                .Replace("\"architecture\": \"medlm\"", "\"architecture\": \"llada\"", StringComparison.Ordinal)
                .Replace(",\n    \"edit_head\": {\n      \"file\": \"edit_head.onnx\"\n    }", "", StringComparison.Ordinal);
            File.WriteAllText(Path.Combine(dir, "medlm.json"), manifest);
            using var package = MeDlm.Model.ModelPackage.Load(dir);
            Assert.False(package.HasEditHead);
            using var generator = new Generator(package);
            var e = Assert.Throws<GenerationRequestException>(() => generator.Generate(new GenerationRequest { Prompt = "hi", EditSteps = 2 }));
            Assert.Contains("has no edit head", e.Message, StringComparison.Ordinal);
            GenerationResult r = generator.Generate(new GenerationRequest { Prompt = "hi" });
            Assert.Equal(16, r.Stats.MaskPasses); // budget 1: every pass goes to stage 1
            Assert.Equal(0, r.Stats.EditPasses);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
