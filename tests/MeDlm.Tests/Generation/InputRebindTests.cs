using MeDlm.Sessions;

namespace MeDlm.Tests.Generation;

/// <summary>
/// The CUDA path binds the inputs again before every pass (a bound CPU value is copied to the device once);
/// on the CPU it must give exactly the in-place path's logits, pass after pass, with the ids changing between.
/// </summary>
public sealed class InputRebindTests
{
    [Fact]
    public void Rebinding_each_pass_gives_the_in_place_logits()
    {
        using var inPlace = new ModelRunner(TestModels.FixturePackage, rebindInputsEachPass: false);
        using var rebound = new ModelRunner(TestModels.FixturePackage, rebindInputsEachPass: true);
        for (int pass = 0; pass < 3; pass++)
        {
            foreach (ModelRunner runner in (ModelRunner[])[inPlace, rebound])
            {
                runner.SetShape(2, 6);
                for (int i = 0; i < runner.InputIds.Length; i++)
                {
                    runner.InputIds[i] = ((i * 7) + (pass * 13)) % 500;
                }
                runner.AttentionMask.Fill(1);
                runner.AttentionMask[^1] = pass == 1 ? 0 : 1;
                runner.Run(withEditHead: true, CancellationToken.None);
            }
            Assert.True(inPlace.Logits.SequenceEqual(rebound.Logits), $"logits differ in pass {pass}");
            Assert.True(inPlace.NextLogits.SequenceEqual(rebound.NextLogits), $"next-token logits differ in pass {pass}");
        }
    }
}
