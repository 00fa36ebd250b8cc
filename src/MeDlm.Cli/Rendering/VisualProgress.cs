namespace MeDlm.Cli.Rendering;

/// <summary>The status line of --visual: stage, pass i/n, edits applied so far.</summary>
internal sealed class VisualProgress(GenerationPlan plan)
{
    private int _replaced;
    private int _deleted;
    private int _inserted;

    public string Status(GenerationStep step)
    {
        ArgumentNullException.ThrowIfNull(step);
        if (step.Stage == GenerationStage.Editing)
        {
            foreach (TokenChange c in step.Changes)
            {
                switch (c.Kind)
                {
                    case TokenChangeKind.Replaced:
                        _replaced++;
                        break;
                    case TokenChangeKind.Deleted:
                        _deleted++;
                        break;
                    case TokenChangeKind.Inserted:
                        _inserted++;
                        break;
                    default:
                        break;
                }
            }
        }
        string total = plan.Algorithm == DecodingAlgorithm.Threshold ? $"≤{plan.MaxForwardPasses}" : plan.MaxForwardPasses.ToString(System.Globalization.CultureInfo.InvariantCulture);
        string stage = step.Stage switch
        {
            GenerationStage.Unmasking => $"unmasking (step {step.StagePassIndex + 1}/{(plan.Algorithm == DecodingAlgorithm.Threshold ? "?" : plan.MaskSteps)}, {step.Changes.Count} committed)",
            GenerationStage.Transition => "between stages (PAD dropped, END written)",
            GenerationStage.Editing => step.Changes.Count == 0
                ? $"edit round {step.StagePassIndex + 1}/{plan.EditRounds}: fixed point, done"
                : $"edit round {step.StagePassIndex + 1}/{plan.EditRounds} ({step.Changes.Count} edits)",
            _ => step.Stage.ToString(),
        };
        return $"{stage} · pass {step.PassIndex + 1}/{total} · edits so far R{_replaced} D{_deleted} I{_inserted}";
    }

    public static string Done(GenerationResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        GenerationStats s = result.Stats;
        return $"done · {s.TotalPasses} passes ({s.MaskPasses} mask + {s.EditPasses} edit) · edits R{s.Edits.Replaced} D{s.Edits.Deleted} I{s.Edits.Inserted}";
    }
}
