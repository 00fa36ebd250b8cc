namespace MeDlm.Decoding;

/// <summary>Stage-1 (unmasking) algorithm, docs/DESIGN.md §2.1, §2.5, §2.6.</summary>
public enum DecodingAlgorithm
{
    /// <summary>
    /// The ME-DLM reference: DEL banned from the prediction, PAD excluded from the confidence normaliser
    /// (a PAD prediction has confidence 0 and is committed last), top-k by max probability.
    /// </summary>
    MeDlm,

    /// <summary>LLaDA <c>low_confidence</c> remasking: top-k by the softmax probability of the prediction.</summary>
    LowConfidence,

    /// <summary>LLaDA <c>random</c> remasking: top-k by uniform noise from the counter RNG.</summary>
    Random,

    /// <summary>Fast-dLLM threshold decoding: every masked position of the block with confidence &gt;= tau, at least one.</summary>
    Threshold,
}

/// <summary>Names of <see cref="DecodingAlgorithm"/> as used in manifests and by the Python reference.</summary>
public static class DecodingAlgorithms
{
    /// <summary>The manifest / reference name: <c>medlm</c>, <c>low_confidence</c>, <c>random</c>, <c>threshold</c>.</summary>
    public static string Name(DecodingAlgorithm algorithm) => algorithm switch
    {
        DecodingAlgorithm.MeDlm => "medlm",
        DecodingAlgorithm.LowConfidence => "low_confidence",
        DecodingAlgorithm.Random => "random",
        DecodingAlgorithm.Threshold => "threshold",
        _ => throw new ArgumentOutOfRangeException(nameof(algorithm)),
    };

    /// <summary>Parses a manifest / reference name (case-insensitive; also accepts the enum names).</summary>
    public static bool TryParse(string? name, out DecodingAlgorithm algorithm)
    {
        switch (name?.Trim().ToLowerInvariant())
        {
            case "medlm":
                algorithm = DecodingAlgorithm.MeDlm;
                return true;
            case "low_confidence" or "lowconfidence":
                algorithm = DecodingAlgorithm.LowConfidence;
                return true;
            case "random":
                algorithm = DecodingAlgorithm.Random;
                return true;
            case "threshold":
                algorithm = DecodingAlgorithm.Threshold;
                return true;
            default:
                algorithm = default;
                return false;
        }
    }
}
