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
        Prompt = plan.Prompt;
        GenLength = plan.GenLength;
        Algorithm = plan.Algorithm;
        MaskSteps = plan.MaskSteps;
        EditSteps = plan.EditRounds;
        BlockLength = plan.BlockLength;
        Temperature = plan.Temperature;
        CfgScale = plan.CfgScale;
        Threshold = plan.Threshold;
        Seed = unchecked((ulong)plan.Seed);
        LogitsEosInf = plan.LogitsEosInf;
        ConfidenceEosEotInf = plan.ConfidenceEosEotInf;
        LengthCap = plan.LengthCap;
        Cancellation = plan.CancellationToken;
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

    public int RequestIndex { get; }

    public int[] Prompt { get; }

    public int GenLength { get; }

    public DecodingAlgorithm Algorithm { get; }

    /// <summary>Stage-1 passes (ignored by <see cref="DecodingAlgorithm.Threshold"/>, whose passes vary).</summary>
    public int MaskSteps { get; }

    /// <summary>Edit rounds allowed (0: stage 1 only).</summary>
    public int EditSteps { get; }

    public int BlockLength { get; }

    public int Blocks => GenLength / BlockLength;

    public double Temperature { get; }

    public double CfgScale { get; }

    public double Threshold { get; }

    public ulong Seed { get; }

    public bool LogitsEosInf { get; }

    public bool ConfidenceEosEotInf { get; }

    /// <summary>Longest a row may grow through insertions.</summary>
    public int LengthCap { get; }

    /// <summary>Cancels this row alone: it leaves the batch before the next pass.</summary>
    public CancellationToken Cancellation { get; }

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
