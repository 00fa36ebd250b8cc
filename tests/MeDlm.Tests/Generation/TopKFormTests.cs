using MeDlm.Decoding;
using MeDlm.Generation;
using MeDlm.Model;

namespace MeDlm.Tests.Generation;

/// <summary>
/// The top-K output form decodes to the same tokens as the full logits of the same weights
/// (tests/fixtures/packages/tiny-fixture-pos and tiny-fixture-topk, export/make_fixtures.py).
/// </summary>
public sealed class TopKFormTests
{
    private static readonly Lazy<ModelPackage> Full = new(() => ModelPackage.Load(Path.Combine(TestModels.RepoRoot, "tests", "fixtures", "packages", "tiny-fixture-pos")));
    private static readonly Lazy<ModelPackage> TopK = new(() => ModelPackage.Load(Path.Combine(TestModels.RepoRoot, "tests", "fixtures", "packages", "tiny-fixture-topk")));
    private static readonly Lazy<ModelPackage> TopKFullLse = new(() => ModelPackage.Load(Path.Combine(TestModels.RepoRoot, "tests", "fixtures", "packages", "tiny-fixture-topk-full-lse")));

    public static TheoryData<bool, DecodingAlgorithm, int, int, int?> Settings()
    {
        var data = new TheoryData<bool, DecodingAlgorithm, int, int, int?>();
        foreach (bool rest in new[] { true, false })
        {
            data.Add(rest, DecodingAlgorithm.MeDlm, 16, 4, null);
            data.Add(rest, DecodingAlgorithm.MeDlm, 4, 2, null);
            data.Add(rest, DecodingAlgorithm.MeDlm, 8, 0, 8);
            data.Add(rest, DecodingAlgorithm.LowConfidence, 8, 0, 4);
            data.Add(rest, DecodingAlgorithm.LowConfidence, 4, 3, null);
            data.Add(rest, DecodingAlgorithm.Random, 8, 2, null);
            data.Add(rest, DecodingAlgorithm.Threshold, 16, 2, 8);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Settings))]
    public void Top_k_form_decodes_like_the_full_logits(bool restLogSumExp, DecodingAlgorithm algorithm, int maskSteps, int editSteps, int? blockLength)
    {
        ModelPackage package = restLogSumExp ? TopK.Value : TopKFullLse.Value;
        Assert.Equal(8, package.Manifest.DenoiserTopK);
        Assert.Equal(restLogSumExp, package.TopKLogSumExpIsRest);
        using var full = new Generator(Full.Value);
        using var topK = new Generator(package);
        GenerationRequest[] requests =
        [
            Request("write add_k(items) with k = 13"),
            Request("ann has 3 pens and gets 5 more. how many pens now?"),
            Request("x"),
        ];

        var expected = full.GenerateBatch(requests);
        var actual = topK.GenerateBatch(requests);

        for (int i = 0; i < requests.Length; i++)
        {
            Assert.Equal(expected[i].DraftTokenIds, actual[i].DraftTokenIds);
            Assert.Equal(expected[i].TokenIds, actual[i].TokenIds);
            Assert.Equal(expected[i].Stats.TokensCommittedPerPass, actual[i].Stats.TokensCommittedPerPass);
            Assert.Equal(expected[i].Stats.Edits, actual[i].Stats.Edits);
            // The request alone gives the same as in the batch.
            Assert.Equal(actual[i].TokenIds, topK.Generate(requests[i]).TokenIds);
        }

        GenerationRequest Request(string prompt) => new()
        {
            Prompt = prompt,
            Algorithm = algorithm,
            MaskSteps = maskSteps,
            EditSteps = editSteps,
            BlockLength = blockLength,
            Threshold = 0.05,
            Seed = 17,
        };
    }

    [Fact]
    public void The_committed_positions_differ_between_passes()
    {
        // Guards the comparison above: the fixture's position embedding makes confidences differ, so the
        // order of unmasking is not just left to right by ties.
        using var topK = new Generator(TopK.Value);
        var result = topK.Generate(new GenerationRequest { Prompt = "write add_k(items) with k = 13", MaskSteps = 16, EditSteps = 0 });
        int prompt = result.PromptTokenIds.Count;
        int[] order = result.Stats.CommittedPositions.Select(p => p.Single() - prompt).ToArray();
        Assert.NotEqual(Enumerable.Range(0, 16), order);
    }

    [Theory]
    [InlineData(0.7, 0.0)]
    [InlineData(0.0, 1.5)]
    public void Sampling_and_guidance_are_refused(double temperature, double cfg)
    {
        using var topK = new Generator(TopK.Value);
        var e = Assert.Throws<GenerationRequestException>(() => topK.Generate(new GenerationRequest { Prompt = "x", Temperature = temperature, CfgScale = cfg }));
        Assert.Contains("outputs the top-8 logits per position", e.Message, StringComparison.Ordinal);
    }
}
