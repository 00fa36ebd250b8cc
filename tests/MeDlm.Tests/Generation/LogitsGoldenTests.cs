using System.Text.Json;
using MeDlm.Model;
using MeDlm.Sessions;

namespace MeDlm.Tests.Generation;

/// <summary>
/// The ONNX graphs run through our session layer reproduce the PyTorch module's outputs (the exporter's
/// logits golden file, export_onnx.py --golden) on a right-padded batch, within its tolerance (1e-4).
/// </summary>
public sealed class LogitsGoldenTests
{
    [Fact]
    public void Onnx_outputs_match_pytorch_on_a_padded_batch()
    {
        string path = TestModels.LogitsGoldenPath;
        Assert.True(File.Exists(path), $"Logits golden file {path} is missing: run export/export_onnx.py --golden (export/build_tiny.sh).");
        using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
        JsonElement g = doc.RootElement;
        double tolerance = g.TryGetProperty("tolerance", out JsonElement t) ? t.GetDouble() : 1e-4;
        AssertRunMatches(TestModels.TinyPackage, g, tolerance);
    }

    /// <summary>
    /// Runs a golden file's batch (<c>input_ids</c>, <c>attention_mask</c>, <c>lengths</c>) through the package's
    /// graphs and asserts the logits (and the next-token logits where the golden has them) are within
    /// <paramref name="tolerance"/> of the golden's at every unpadded position. Also used by the layout tests.
    /// </summary>
    internal static void AssertRunMatches(ModelPackage package, JsonElement g, double tolerance)
    {
        JsonElement[] ids = [.. g.GetProperty("input_ids").EnumerateArray()];
        JsonElement[] mask = [.. g.GetProperty("attention_mask").EnumerateArray()];
        int[] lengths = [.. g.GetProperty("lengths").EnumerateArray().Select(e => e.GetInt32())];
        int batch = ids.Length;
        int seq = ids[0].GetArrayLength();

        using var runner = new ModelRunner(package);
        runner.SetShape(batch, seq);
        for (int b = 0; b < batch; b++)
        {
            for (int s = 0; s < seq; s++)
            {
                runner.InputIds[(b * seq) + s] = ids[b][s].GetInt64();
                runner.AttentionMask[(b * seq) + s] = mask[b][s].GetInt64();
            }
        }
        bool edit = package.HasEditHead && g.TryGetProperty("next_token_logits", out _);
        runner.Run(edit, CancellationToken.None);

        int vocab = package.Manifest.VocabSize;
        double worst = MaxDiff(g.GetProperty("logits"), runner.Logits, lengths, seq, vocab);
        Assert.True(worst <= tolerance, $"{package.Manifest.Name}: logits differ from PyTorch by {worst:E2} (tolerance {tolerance:E0})");
        if (edit)
        {
            double worstNext = MaxDiff(g.GetProperty("next_token_logits"), runner.NextLogits, lengths, seq, vocab);
            Assert.True(worstNext <= tolerance, $"{package.Manifest.Name}: next_token_logits differ from PyTorch by {worstNext:E2} (tolerance {tolerance:E0})");
        }
    }

    private static double MaxDiff(JsonElement expected, ReadOnlySpan<float> actual, int[] lengths, int seq, int vocab)
    {
        double worst = 0;
        int b = 0;
        foreach (JsonElement row in expected.EnumerateArray())
        {
            int s = 0;
            foreach (JsonElement position in row.EnumerateArray())
            {
                int v = 0;
                foreach (JsonElement x in position.EnumerateArray())
                {
                    worst = Math.Max(worst, Math.Abs(x.GetDouble() - actual[(((b * seq) + s) * vocab) + v]));
                    v++;
                }
                Assert.Equal(vocab, v);
                s++;
            }
            Assert.Equal(lengths[b], s);
            b++;
        }
        return worst;
    }
}
