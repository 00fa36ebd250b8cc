using MeDlm.Sessions;
using Microsoft.ML.OnnxRuntime;

namespace MeDlm.Tests.Generation;

/// <summary>Cancellation reaches into a pass in flight through RunOptions.Terminate.</summary>
public sealed class RunCancellationTests
{
    [Fact]
    public void Cancelled_token_sets_terminate_so_onnx_runtime_stops_the_pass()
    {
        using var runner = new ModelRunner(TestModels.FixturePackage);
        runner.SetShape(2, 5);
        runner.InputIds.Fill(10);
        runner.AttentionMask.Fill(1);
        using var cts = new CancellationTokenSource();
        using (runner.RegisterCancellation(cts.Token))
        {
            runner.Run(false, cts.Token);
            cts.Cancel();
            // A run that does not look at the token itself is still stopped, by ONNX Runtime.
            var e = Assert.Throws<OnnxRuntimeException>(() => runner.Run(false, CancellationToken.None));
            Assert.Contains("terminate", e.Message, StringComparison.OrdinalIgnoreCase);
            Assert.Throws<OperationCanceledException>(() => runner.Run(true, cts.Token));
        }
        // The next generation re-arms the flag.
        using (runner.RegisterCancellation(CancellationToken.None))
        {
            runner.Run(true, CancellationToken.None);
        }
    }
}
