using MeDlm.Decoding;
using MeDlm.Generation;
using MeDlm.Sessions;
using MeDlm.Tests.Generation;

namespace MeDlm.Tests.Decoding;

/// <summary>Dream passes allocate nothing once a request has started (filters, sampling and alg_temp included).</summary>
public sealed class DreamAllocationTests
{
    [Theory]
    [InlineData(DecodingAlgorithm.MaskGitPlus, 0.0, 1.0, 0, 0.0)]
    [InlineData(DecodingAlgorithm.Entropy, 0.7, 0.9, 5, 0.5)]
    [InlineData(DecodingAlgorithm.TopKMargin, 1.0, 1.0, 8, 0.0)]
    [InlineData(DecodingAlgorithm.Origin, 0.5, 0.8, 0, 0.0)]
    public void Dream_passes_do_not_allocate(DecodingAlgorithm algorithm, double temperature, double topP, int topK, double algTemp)
    {
        var package = TestModels.DreamPackage;
        using var runner = new ModelRunner(package);
        var decoder = new BatchDecoder(runner, package.Manifest.SpecialTokens);
        var requests = new[]
        {
            new GenerationRequest { PromptTokenIds = [5, 10, 20, 30], Algorithm = algorithm, Temperature = temperature, TopP = topP, TopK = topK, AlgTemp = algTemp, MaskSteps = 12, Seed = 1 },
            new GenerationRequest { PromptTokenIds = [5, 11, 12, 13], Algorithm = algorithm, Temperature = temperature, TopP = topP, TopK = topK, AlgTemp = algTemp, MaskSteps = 12, Seed = 2 },
        };
        RowPlan[] plans = [new(0, RequestPlanner.Plan(package, requests[0], 0), package.Manifest.SpecialTokens), new(1, RequestPlanner.Plan(package, requests[1], 1), package.Manifest.SpecialTokens)];
        int passes = 0;
        long bytes = Allocations.SteadyState(() =>
        {
            decoder.Start(plans);
            decoder.Step(CancellationToken.None);
            passes = 0;
            while (!decoder.IsDone)
            {
                decoder.Step(CancellationToken.None);
                passes++;
            }
        });
        Assert.True(passes >= 4, $"only {passes} passes were measured");
        Assert.Equal(0, bytes);
    }
}
