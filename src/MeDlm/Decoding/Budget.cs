namespace MeDlm.Decoding;

/// <summary>Forward-pass budgets (docs/DESIGN.md §2.4): a fraction b of G allows round(G·b) passes per sequence.</summary>
public static class Budget
{
    /// <summary>
    /// Splits the passes of budget <paramref name="budget"/> over a generation of <paramref name="genLength"/>
    /// tokens into mask steps and edit rounds, exactly as <c>decoding.budget_split</c>:
    /// total = max(1, floor(G·b + 0.5)), edits = floor(total·share + 0.5), masks = max(1, total - edits),
    /// and the edit rounds are total - masks (rounding half up, not to even).
    /// </summary>
    public static (int MaskSteps, int EditSteps) Split(int genLength, double budget, double editShare = 0.25)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(genLength);
        if (!(budget > 0) || double.IsInfinity(budget))
        {
            throw new ArgumentOutOfRangeException(nameof(budget), budget, "The budget must be a positive fraction.");
        }
        if (!(editShare >= 0 && editShare < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(editShare), editShare, "The edit share must be in [0, 1).");
        }
        int total = Math.Max(1, (int)Math.Floor((genLength * budget) + 0.5));
        int edits = (int)Math.Floor((total * editShare) + 0.5);
        int masks = Math.Max(1, total - edits);
        return (masks, total - masks);
    }
}
