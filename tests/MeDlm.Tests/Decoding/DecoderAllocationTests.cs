using MeDlm.Decoding;
using MeDlm.Generation;
using MeDlm.Sessions;
using MeDlm.Tests.Generation;

namespace MeDlm.Tests.Decoding;

/// <summary>
/// The per-pass work of the decoders allocates nothing once a request has started, ONNX Runtime's runs
/// included (the inputs and outputs are bound once per shape).
/// </summary>
public sealed class DecoderAllocationTests
{
    [Theory]
    [InlineData(DecodingAlgorithm.MeDlm, 0.0, 0.0, 0)]
    [InlineData(DecodingAlgorithm.MeDlm, 0.0, 0.0, 4)]
    [InlineData(DecodingAlgorithm.LowConfidence, 0.7, 0.5, 0)]
    [InlineData(DecodingAlgorithm.Random, 0.0, 0.0, 0)]
    [InlineData(DecodingAlgorithm.Threshold, 0.0, 0.0, 2)]
    public void Passes_do_not_allocate(DecodingAlgorithm algorithm, double temperature, double cfg, int editSteps)
    {
        var package = TestModels.FixturePackage;
        using var runner = new ModelRunner(package);
        var decoder = new BatchDecoder(runner, package.Manifest.SpecialTokens);
        // Same prompt length: one batch shape for the whole run (a new shape rebuilds the bindings, once).
        var requests = new[]
        {
            new GenerationRequest { PromptTokenIds = [591, 10, 20, 30], Algorithm = algorithm, Temperature = temperature, CfgScale = cfg, MaskSteps = 8, EditSteps = editSteps, Threshold = 0.99, BlockLength = 8 },
            new GenerationRequest { PromptTokenIds = [591, 11, 12, 13], Algorithm = algorithm, Temperature = temperature, CfgScale = cfg, MaskSteps = 8, EditSteps = editSteps, Threshold = 0.99, BlockLength = 8 },
        };
        RowPlan[] plans = [new(0, RequestPlanner.Plan(package, requests[0], 0), package.Manifest.SpecialTokens), new(1, RequestPlanner.Plan(package, requests[1], 1), package.Manifest.SpecialTokens)];
        int passes = 0;
        int lastShape = 0;
        bool shapeChanged = false;

        // One window: a whole request after its first pass (which sizes the buffers and binds the shape).
        long bytes = Allocations.SteadyState(() =>
        {
            decoder.Start(plans);
            decoder.Step(CancellationToken.None);
            lastShape = runner.Batch * 100_000 + runner.Seq;
            passes = 0;
            while (!decoder.IsDone)
            {
                decoder.Step(CancellationToken.None);
                shapeChanged |= runner.Batch * 100_000 + runner.Seq != lastShape && !decoder.IsDone;
                passes++;
            }
        });

        Assert.True(passes >= 4, $"only {passes} passes were measured");
        Assert.False(shapeChanged && editSteps == 0, "stage 1 changed the batch shape");
        Assert.Equal(0, bytes);
    }
}
