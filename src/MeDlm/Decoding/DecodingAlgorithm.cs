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

    /// <summary>Dream <c>origin</c>: each mask is revealed with probability 1 - s/t (counter RNG), its token sampled.</summary>
    Origin,

    /// <summary>Dream <c>maskgit_plus</c>: top-k positions by the (filtered) probability of the prediction.</summary>
    MaskGitPlus,

    /// <summary>Dream <c>topk_margin</c>: top-k positions by p1 - p2.</summary>
    TopKMargin,

    /// <summary>Dream <c>entropy</c>: top-k positions by Σ p log(p + 1e-10) (the negative entropy).</summary>
    Entropy,
}

/// <summary>Names of <see cref="DecodingAlgorithm"/> as used in manifests and by the Python reference.</summary>
public static class DecodingAlgorithms
{
    /// <summary>The manifest / reference name: <c>medlm</c>, <c>low_confidence</c>, <c>random</c>, <c>threshold</c>,
    /// and Dream's <c>origin</c>, <c>maskgit_plus</c>, <c>topk_margin</c>, <c>entropy</c>.</summary>
    public static string Name(DecodingAlgorithm algorithm) => algorithm switch
    {
        DecodingAlgorithm.MeDlm => "medlm",
        DecodingAlgorithm.LowConfidence => "low_confidence",
        DecodingAlgorithm.Random => "random",
        DecodingAlgorithm.Threshold => "threshold",
        DecodingAlgorithm.Origin => "origin",
        DecodingAlgorithm.MaskGitPlus => "maskgit_plus",
        DecodingAlgorithm.TopKMargin => "topk_margin",
        DecodingAlgorithm.Entropy => "entropy",
        _ => throw new ArgumentOutOfRangeException(nameof(algorithm)),
    };

    /// <summary>Whether the algorithm is one of Dream's (shifted-logits packages decode with these only).</summary>
    public static bool IsDream(DecodingAlgorithm algorithm) =>
        algorithm is DecodingAlgorithm.Origin or DecodingAlgorithm.MaskGitPlus or DecodingAlgorithm.TopKMargin or DecodingAlgorithm.Entropy;

    private static readonly DecodingAlgorithm[] All = Enum.GetValues<DecodingAlgorithm>();

    /// <summary>Every algorithm's <see cref="Name"/>, comma-separated, for the error messages of every host.</summary>
    public static readonly string NameList = string.Join(", ", Array.ConvertAll(All, Name));

    /// <summary>
    /// Parses a manifest / reference name (<see cref="Name"/>; case-insensitive), or the name without its
    /// underscores, which is also the enum name (<c>low_confidence</c>, <c>lowconfidence</c>, <c>LowConfidence</c>).
    /// </summary>
    public static bool TryParse(string? name, out DecodingAlgorithm algorithm)
    {
        string? key = name?.Trim().ToLowerInvariant();
        foreach (DecodingAlgorithm a in All)
        {
            string canonical = Name(a);
            if (key == canonical || key == canonical.Replace("_", "", StringComparison.Ordinal))
            {
                algorithm = a;
                return true;
            }
        }
        algorithm = default;
        return false;
    }
}
