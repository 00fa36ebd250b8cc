using System.Diagnostics;
using MeDlm.Model;
using Microsoft.ML.OnnxRuntime;

namespace MeDlm.Generation;

/// <summary>Seconds per forward pass of a package's graphs at one shape, as plain ONNX Runtime runs them.</summary>
/// <param name="Batch">Rows.</param>
/// <param name="Seq">Positions per row.</param>
/// <param name="Passes">Timed passes (after the warm-up).</param>
/// <param name="DenoiserSeconds">Mean seconds of one denoiser run.</param>
/// <param name="EditHeadSeconds">Mean seconds of one edit-head run on the denoiser's hidden states; 0 without an edit head.</param>
public readonly record struct ForwardTimingResult(int Batch, int Seq, int Passes, double DenoiserSeconds, double EditHeadSeconds);

/// <summary>
/// The baseline a decoding step is compared with: a bare ONNX Runtime forward on the package's own
/// sessions, as a caller without MeDlm would run it — <c>InferenceSession.Run</c> with named inputs and
/// every graph output allocated by ONNX Runtime and returned to the host (the edit head is fed the hidden
/// states that came back). Inputs are fixed ids with a full attention mask. For `medlm bench --bare-forward`
/// and `medlm forward` (model FLOP utilisation of large exports).
/// </summary>
public static class ForwardTiming
{
    /// <summary>Times <paramref name="passes"/> runs after <paramref name="warmup"/> untimed ones.</summary>
    public static ForwardTimingResult Measure(ModelPackage package, int batch, int seq, int passes, int warmup, bool withEditHead,
        CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(package);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batch);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(seq);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(passes);
        ArgumentOutOfRangeException.ThrowIfNegative(warmup);
        if (withEditHead && !package.HasEditHead)
        {
            throw new ArgumentException("The package has no edit head.", nameof(withEditHead));
        }
        int n = checked(batch * seq);
        var ids = new long[n];
        var mask = new long[n];
        int tokens = Math.Max(1, Math.Min(package.Tokenizer.VocabSize, package.Manifest.VocabSize));
        for (int i = 0; i < n; i++)
        {
            ids[i] = (i * 7919L) % tokens;
            mask[i] = 1;
        }
        InferenceSession denoiser = package.Denoiser;
        InferenceSession? editHead = withEditHead ? package.EditHead : null;
        long[] shape = [batch, seq];
        using var idsValue = OrtValue.CreateTensorValueFromMemory(ids, shape);
        using var maskValue = OrtValue.CreateTensorValueFromMemory(mask, shape);
        using var options = new RunOptions();
        string[] inputNames = ["input_ids", "attention_mask"];
        OrtValue[] inputs = [idsValue, maskValue];
        string[] outputNames = [.. denoiser.OutputNames];
        int hiddenIndex = Array.IndexOf(outputNames, "hidden_states");
        string[] editInputs = ["hidden_states"];
        string[] editOutputs = editHead is null ? [] : [.. editHead.OutputNames];
        double denoiserTicks = 0, editTicks = 0;
        for (int p = 0; p < warmup + passes; p++)
        {
            ct.ThrowIfCancellationRequested();
            long t0 = Stopwatch.GetTimestamp();
            using IDisposableReadOnlyCollection<OrtValue> outputs = denoiser.Run(options, inputNames, inputs, outputNames);
            long t1 = Stopwatch.GetTimestamp();
            if (p >= warmup)
            {
                denoiserTicks += t1 - t0;
            }
            if (editHead is not null)
            {
                long t2 = Stopwatch.GetTimestamp();
                using IDisposableReadOnlyCollection<OrtValue> next = editHead.Run(options, editInputs, [outputs[hiddenIndex]], editOutputs);
                if (p >= warmup)
                {
                    editTicks += Stopwatch.GetTimestamp() - t2;
                }
            }
        }
        double perPass = 1.0 / (passes * (double)Stopwatch.Frequency);
        return new ForwardTimingResult(batch, seq, passes, denoiserTicks * perPass, editTicks * perPass);
    }

    /// <summary>
    /// Model FLOPs of one denoiser pass over <paramref name="batch"/> x <paramref name="seq"/> tokens from the
    /// manifest's <c>model</c> config (matrix products only: the linear layers, the attention scores and
    /// their weighted sum, the LM head), and of one edit-head run; null when the config lacks a width.
    /// </summary>
    public static (double Denoiser, double EditHead)? ModelFlops(ModelManifest manifest, int batch, int seq)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        if (manifest.ModelConfig is not { } m
            || !TryInt(m, "hidden_size", out int h) || !TryInt(m, "intermediate_size", out int ff)
            || !TryInt(m, "num_hidden_layers", out int layers) || !TryInt(m, "num_attention_heads", out int heads))
        {
            return null;
        }
        int kvHeads = TryInt(m, "num_key_value_heads", out int kv) ? kv : heads;
        int headDim = TryInt(m, "head_dim", out int hd) ? hd : h / heads;
        double tokens = (double)batch * seq;
        double perLayerWeights = ((double)h * heads * headDim * 2) + ((double)h * kvHeads * headDim * 2) + (3.0 * h * ff);
        double attention = 4.0 * seq * heads * headDim; // per token: scores and weighted sum
        double head = (double)h * manifest.VocabSize;
        double denoiser = tokens * ((layers * ((2 * perLayerWeights) + attention)) + (2 * head));
        return (denoiser, manifest.EditHeadFile is null ? 0 : tokens * 2 * head);
    }

    private static bool TryInt(System.Text.Json.JsonElement m, string key, out int value)
    {
        value = 0;
        return m.TryGetProperty(key, out System.Text.Json.JsonElement v) && v.TryGetInt32(out value) && value > 0;
    }
}
