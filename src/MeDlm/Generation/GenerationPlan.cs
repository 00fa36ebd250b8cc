using MeDlm.Decoding;

namespace MeDlm.Generation;

/// <summary>
/// A <see cref="GenerationRequest"/> resolved against one model: every default applied and every rule
/// checked (<see cref="Generator.Plan"/>). Immutable. The generator runs plans; hosts read them to enforce
/// their own limits (prompt tokens, passes) and to report what will run.
/// </summary>
public sealed class GenerationPlan
{
    internal GenerationPlan(int[] prompt, int genLength, int blockLength, DecodingAlgorithm algorithm, int maskSteps, int editRounds,
        double temperature, double cfgScale, double threshold, long seed, bool logitsEosInf, bool confidenceEosEotInf, int lengthCap,
        CancellationToken cancellation)
    {
        Prompt = prompt;
        GenLength = genLength;
        BlockLength = blockLength;
        Algorithm = algorithm;
        MaskSteps = maskSteps;
        EditRounds = editRounds;
        Temperature = temperature;
        CfgScale = cfgScale;
        Threshold = threshold;
        Seed = seed;
        LogitsEosInf = logitsEosInf;
        ConfidenceEosEotInf = confidenceEosEotInf;
        LengthCap = lengthCap;
        CancellationToken = cancellation;
    }

    /// <summary>The prompt ids the model sees (chat template applied where the request asked for it).</summary>
    public IReadOnlyList<int> PromptTokenIds => Prompt;

    /// <summary>G: masks appended after the prompt.</summary>
    public int GenLength { get; }

    /// <summary>The semi-autoregressive block length (divides <see cref="GenLength"/>).</summary>
    public int BlockLength { get; }

    /// <summary>Blocks of the canvas.</summary>
    public int Blocks => GenLength / BlockLength;

    /// <summary>The stage-1 algorithm.</summary>
    public DecodingAlgorithm Algorithm { get; }

    /// <summary>Stage-1 passes (for <see cref="DecodingAlgorithm.Threshold"/> the passes vary: see <see cref="MaxMaskPasses"/>).</summary>
    public int MaskSteps { get; }

    /// <summary>Edit rounds allowed (0: stage 1 only).</summary>
    public int EditRounds { get; }

    /// <summary>The most stage-1 passes: the threshold algorithm commits at least one position per pass, so at most G.</summary>
    public int MaxMaskPasses => Algorithm == DecodingAlgorithm.Threshold ? GenLength : MaskSteps;

    /// <summary>
    /// The most forward passes the sequence can take: stage 1 ends early with <see cref="SwitchThreshold"/> and edit
    /// rounds at the fixed point, so this is a bound, reached by neither budget-free setting in general.
    /// </summary>
    public int MaxForwardPasses => MaxMaskPasses + EditRounds;

    /// <summary>Stage-1 sampling temperature (0: greedy).</summary>
    public double Temperature { get; }

    /// <summary>Classifier-free guidance scale (0: none).</summary>
    public double CfgScale { get; }

    /// <summary>Confidence threshold of <see cref="DecodingAlgorithm.Threshold"/>.</summary>
    public double Threshold { get; }

    /// <summary>Seed of the counter RNG.</summary>
    public long Seed { get; }

    /// <summary>LLaDA <c>logits_eos_inf</c>.</summary>
    public bool LogitsEosInf { get; }

    /// <summary>LLaDA <c>confidence_eos_eot_inf</c>.</summary>
    public bool ConfidenceEosEotInf { get; }

    /// <summary>Longest the sequence (prompt + response) may grow through insertions.</summary>
    public int LengthCap { get; }

    /// <summary>Cancels this sequence alone (see <see cref="GenerationRequest.CancellationToken"/>).</summary>
    public CancellationToken CancellationToken { get; }

    internal int[] Prompt { get; }

    /// <summary>The same plan with another per-sequence cancellation token.</summary>
    public GenerationPlan WithCancellation(CancellationToken cancellation) =>
        new(Prompt, GenLength, BlockLength, Algorithm, MaskSteps, EditRounds, Temperature, CfgScale, Threshold, Seed, LogitsEosInf,
            ConfidenceEosEotInf, LengthCap, cancellation)
        {
            TopP = TopP,
            TopK = TopK,
            AlgTemp = AlgTemp,
            Eps = Eps,
            EditThreshold = EditThreshold,
            SwitchThreshold = SwitchThreshold,
        };

    /// <summary>Confidence gate of the edit rounds (0: every proposal applies; docs/DESIGN.md §2.3).</summary>
    public double EditThreshold { get; init; }

    /// <summary>Early switch from stage 1 to the edit rounds (0: off; docs/DESIGN.md §2.6).</summary>
    public double SwitchThreshold { get; init; }

    /// <summary>Dream top-p (1: off).</summary>
    public double TopP { get; init; } = 1.0;

    /// <summary>Dream top-k (0: off).</summary>
    public int TopK { get; init; }

    /// <summary>Dream alg_temp (0: the most confident positions).</summary>
    public double AlgTemp { get; init; }

    /// <summary>Dream's schedule end point eps of linspace(1, eps, steps + 1).</summary>
    public double Eps { get; init; } = 1e-3;
}
