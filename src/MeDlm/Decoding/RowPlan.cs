using MeDlm.Model;

namespace MeDlm.Decoding;

/// <summary>
/// One sequence's settings as the decoder reads them: a <see cref="Generation.GenerationPlan"/> at its
/// index in the running batch, with the token bans it implies. The decoder only reads it.
/// </summary>
internal sealed class RowPlan
{
    public RowPlan(int requestIndex, Generation.GenerationPlan plan, SpecialTokens ids)
    {
        ArgumentNullException.ThrowIfNull(plan);
        RequestIndex = requestIndex;
        _plan = plan;
        DecodingAlgorithm algorithm = plan.Algorithm;
        bool logitsEosInf = plan.LogitsEosInf;
        bool confidenceEosEotInf = plan.ConfidenceEosEotInf;
        double temperature = plan.Temperature;
        int editSteps = plan.EditRounds;

        // Token bans (docs/DESIGN.md §2.1, §2.5). ME-DLM: DEL never predicted, PAD outside the confidence normaliser.
        // LLaDA: logits_eos_inf bans PAD from the prediction; confidence_eos_eot_inf gives END and PAD zero
        // confidence, but with temperature > 0 only END (LLaDA's noisy logits are a separate tensor).
        var argmaxBan = new List<int>(2);
        var normaliserBan = new List<int>(2);
        if (algorithm == DecodingAlgorithm.MeDlm)
        {
            if (ids.Delete >= 0)
            {
                argmaxBan.Add(ids.Delete);
            }
            normaliserBan.Add(ids.Pad);
        }
        if (logitsEosInf)
        {
            AddOnce(argmaxBan, ids.Pad);
        }
        if (confidenceEosEotInf)
        {
            if (ids.End >= 0)
            {
                AddOnce(normaliserBan, ids.End);
            }
            if (temperature == 0)
            {
                AddOnce(normaliserBan, ids.Pad);
            }
        }
        ArgmaxBan = [.. argmaxBan];
        NormaliserBan = [.. normaliserBan];
        // ME-DLM always drops PAD from its draft; the LLaDA algorithms only when edit rounds follow.
        Transition = algorithm == DecodingAlgorithm.MeDlm || editSteps > 0;
    }

    private readonly Generation.GenerationPlan _plan;

    public int RequestIndex { get; }

    public int[] Prompt => _plan.Prompt;

    public int GenLength => _plan.GenLength;

    public DecodingAlgorithm Algorithm => _plan.Algorithm;

    /// <summary>Stage-1 passes (ignored by <see cref="DecodingAlgorithm.Threshold"/>, whose passes vary).</summary>
    public int MaskSteps => _plan.MaskSteps;

    /// <summary>Edit rounds allowed (0: stage 1 only).</summary>
    public int EditSteps => _plan.EditRounds;

    public int BlockLength => _plan.BlockLength;

    public int Blocks => GenLength / BlockLength;

    public double Temperature => _plan.Temperature;

    public double CfgScale => _plan.CfgScale;

    public double Threshold => _plan.Threshold;

    public ulong Seed => unchecked((ulong)_plan.Seed);

    public bool LogitsEosInf => _plan.LogitsEosInf;

    public bool ConfidenceEosEotInf => _plan.ConfidenceEosEotInf;

    /// <summary>Longest a row may grow through insertions.</summary>
    public int LengthCap => _plan.LengthCap;

    /// <summary>Confidence gate of the edit rounds (0: off).</summary>
    public double EditThreshold => _plan.EditThreshold;

    /// <summary>Early switch from stage 1 to the edit rounds (0: off).</summary>
    public double SwitchThreshold => _plan.SwitchThreshold;

    /// <summary>Dream top-p (1: off).</summary>
    public double TopP => _plan.TopP;

    /// <summary>Dream top-k (0: off).</summary>
    public int TopK => _plan.TopK;

    /// <summary>Dream alg_temp (0: greedy position selection).</summary>
    public double AlgTemp => _plan.AlgTemp;

    /// <summary>Dream's schedule end point eps of linspace(1, eps, steps + 1).</summary>
    public double Eps => _plan.Eps;

    /// <summary>Cancels this row alone: it leaves the batch before the next pass.</summary>
    public CancellationToken Cancellation => _plan.CancellationToken;

    /// <summary>Ids excluded from the stage-1 prediction x0.</summary>
    public int[] ArgmaxBan { get; }

    /// <summary>Ids excluded from the confidence normaliser (in addition to <see cref="ArgmaxBan"/>).</summary>
    public int[] NormaliserBan { get; }

    /// <summary>Whether the between-stages transform (drop PAD, END last) runs after stage 1.</summary>
    public bool Transition { get; }

    /// <summary>Positions the row may occupy: the stage-1 canvas, or the cap if edits may grow it further.</summary>
    public int Capacity => Math.Max(Prompt.Length + GenLength, LengthCap);

    private static void AddOnce(List<int> list, int id)
    {
        if (!list.Contains(id))
        {
            list.Add(id);
        }
    }
}
