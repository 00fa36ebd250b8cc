using System.Globalization;

namespace MeDlm.Decoding;

/// <summary>
/// Forward-pass budgets (docs/DESIGN.md §2.4): a fraction b of G allows round(G·b) passes per sequence. The
/// one place where a budget is written, read and split: the CLI, the server and the chat client all call it.
/// </summary>
public static class Budget
{
    /// <summary>How a budget may be written, for error messages.</summary>
    public const string Syntax = "1, 1/2, 0.25 or 25%";

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

    /// <summary>Whether <paramref name="budget"/> is a valid budget: a finite number in (0, 1].</summary>
    public static bool IsValid(double budget) => budget > 0 && budget <= 1;

    /// <summary>
    /// The budget word for the package's measured adaptive setting (manifest <c>generation.auto</c>,
    /// docs/DESIGN.md §2.11) in place of a fraction: <see cref="Generation.GenerationRequest.AutoBudget"/>.
    /// </summary>
    public const string Auto = "auto";

    /// <summary>How a budget may be written where <see cref="Auto"/> is accepted, for error messages.</summary>
    public const string SyntaxWithAuto = Syntax + " or auto";

    /// <summary>
    /// Parses a budget as users write it: a number (<c>1</c>, <c>0.125</c>), a fraction (<c>1/8</c>) or a
    /// percentage (<c>12.5%</c>), in (0, 1]; false with a one-line reason otherwise (also for <see cref="Auto"/>,
    /// which is not a fraction).
    /// </summary>
    public static bool TryParse(string? text, out double budget, out string error)
    {
        if (!TryParseCore(text, out budget, out bool auto, out error))
        {
            error = $"{error} (write {Syntax})";
            return false;
        }
        if (auto)
        {
            error = $"'{Auto}' is not a fraction (write {Syntax})";
            return false;
        }
        return true;
    }

    /// <summary>
    /// Parses a budget or the word <see cref="Auto"/> (any case): <paramref name="auto"/> is true for it (and
    /// <paramref name="budget"/> 0), else <paramref name="budget"/> is the fraction as <see cref="TryParse(string?, out double, out string)"/> reads it.
    /// The one parser of the CLI's <c>--budget</c>, the server's <c>medlm.budget</c> and the chat client's <c>budget</c>.
    /// </summary>
    public static bool TryParse(string? text, out double budget, out bool auto, out string error)
    {
        if (TryParseCore(text, out budget, out auto, out error))
        {
            return true;
        }
        error = $"{error} (write {SyntaxWithAuto})";
        return false;
    }

    /// <summary>The one reading of a budget's text; <paramref name="reason"/> says what is wrong, without the syntax hint.</summary>
    private static bool TryParseCore(string? text, out double budget, out bool auto, out string reason)
    {
        budget = 0;
        auto = false;
        reason = string.Empty;
        string s = (text ?? string.Empty).Trim();
        if (s.Length == 0)
        {
            reason = "the budget is empty";
            return false;
        }
        if (s.Equals(Auto, StringComparison.OrdinalIgnoreCase))
        {
            auto = true;
            return true;
        }
        double value;
        int slash = s.IndexOf('/', StringComparison.Ordinal);
        if (slash >= 0)
        {
            if (!TryNumber(s.AsSpan(0, slash), out double num) || !TryNumber(s.AsSpan(slash + 1), out double den))
            {
                reason = $"'{s}' is not a fraction like 1/8";
                return false;
            }
            if (den == 0)
            {
                reason = $"'{s}' divides by zero";
                return false;
            }
            value = num / den;
        }
        else if (s.EndsWith('%'))
        {
            if (!TryNumber(s.AsSpan(0, s.Length - 1), out double pct))
            {
                reason = $"'{s}' is not a percentage like 12.5%";
                return false;
            }
            value = pct / 100.0;
        }
        else if (!TryNumber(s, out value))
        {
            reason = $"'{s}' is not a budget";
            return false;
        }
        if (!IsValid(value))
        {
            reason = $"budget '{s}' must be in (0, 1]";
            return false;
        }
        budget = value;
        return true;
    }

    /// <summary>Parses a budget (see <see cref="TryParse(string?, out double, out string)"/>).</summary>
    /// <exception cref="FormatException">The text is not a budget in (0, 1].</exception>
    public static double Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return TryParse(text, out double budget, out string error) ? budget : throw new FormatException(error);
    }

    private static bool TryNumber(ReadOnlySpan<char> s, out double value) =>
        double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out value) && double.IsFinite(value);
}
