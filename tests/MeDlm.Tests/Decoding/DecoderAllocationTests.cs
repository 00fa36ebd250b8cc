using MeDlm.Decoding;
using MeDlm.Generation;
using MeDlm.Sessions;
using MeDlm.Tests.Generation;

namespace MeDlm.Tests.Decoding;

/// <summary>The per-pass work of the decoders allocates nothing once a request has started.</summary>
public sealed class DecoderAllocationTests
{
    [Theory]
    [InlineData(DecodingAlgorithm.MeDlm, 0.0, 0.0)]
    [InlineData(DecodingAlgorithm.LowConfidence, 0.7, 0.5)]
    [InlineData(DecodingAlgorithm.Random, 0.0, 0.0)]
    [InlineData(DecodingAlgorithm.Threshold, 0.0, 0.0)]
    public void Stage_one_passes_do_not_allocate(DecodingAlgorithm algorithm, double temperature, double cfg)
    {
        var package = TestModels.FixturePackage;
        using var runner = new ModelRunner(package);
        var decoder = new BatchDecoder(runner, package.Manifest.SpecialTokens);
        var requests = new[]
        {
            new GenerationRequest { PromptTokenIds = [591, 10, 20, 30], Algorithm = algorithm, Temperature = temperature, CfgScale = cfg, MaskSteps = 16, EditSteps = 0, Threshold = 0.99, BlockLength = 8 },
            new GenerationRequest { PromptTokenIds = [591, 11], Algorithm = algorithm, Temperature = temperature, CfgScale = cfg, MaskSteps = 16, EditSteps = 0, Threshold = 0.99, BlockLength = 8 },
        };
        RowPlan[] plans = [RequestPlanner.Plan(package, requests[0], 0), RequestPlanner.Plan(package, requests[1], 1)];
        decoder.Start(plans);
        decoder.Step(CancellationToken.None); // first pass: buffers and ORT values for the shape
        long ortBytes = MeasureOrtRun(runner);
        long before = GC.GetAllocatedBytesForCurrentThread();
        int passes = 0;
        while (!decoder.IsDone && passes < 8)
        {
            decoder.Step(CancellationToken.None);
            passes++;
        }
        long perPass = (GC.GetAllocatedBytesForCurrentThread() - before) / Math.Max(1, passes);
        Assert.True(passes > 0);
        // Whatever ONNX Runtime's managed Run allocates itself is not ours.
        Assert.True(perPass <= ortBytes, $"{perPass} bytes per pass, of which ORT's Run accounts for {ortBytes}");
    }

    private static long MeasureOrtRun(ModelRunner runner)
    {
        runner.Run(false, CancellationToken.None);
        long before = GC.GetAllocatedBytesForCurrentThread();
        runner.Run(false, CancellationToken.None);
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }
}
