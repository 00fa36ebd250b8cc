using System.Globalization;

namespace MeDlm.Cli;

/// <summary>Parses forward-pass budgets as users write them: "1", "1/4", "0.25", "25%".</summary>
internal static class BudgetParser
{
    /// <summary>Parses one budget in (0, 1]; false with a reason otherwise.</summary>
    public static bool TryParse(string? text, out double budget, out string error)
    {
        budget = 0;
        error = string.Empty;
        string s = (text ?? string.Empty).Trim();
        if (s.Length == 0)
        {
            error = "the budget is empty";
            return false;
        }
        double value;
        int slash = s.IndexOf('/', StringComparison.Ordinal);
        if (slash >= 0)
        {
            if (!TryNumber(s.AsSpan(0, slash), out double num) || !TryNumber(s.AsSpan(slash + 1), out double den))
            {
                error = $"'{s}' is not a fraction like 1/4";
                return false;
            }
            if (den == 0)
            {
                error = $"'{s}' divides by zero";
                return false;
            }
            value = num / den;
        }
        else if (s.EndsWith('%'))
        {
            if (!TryNumber(s.AsSpan(0, s.Length - 1), out double pct))
            {
                error = $"'{s}' is not a percentage like 25%";
                return false;
            }
            value = pct / 100.0;
        }
        else if (!TryNumber(s, out value))
        {
            error = $"'{s}' is not a budget (write 1, 1/2, 0.25 or 25%)";
            return false;
        }
        if (!(value > 0 && value <= 1))
        {
            error = $"budget '{s}' must be in (0, 1]";
            return false;
        }
        budget = value;
        return true;
    }

    /// <summary>Parses a comma-separated list ("1,1/2,1/4").</summary>
    public static bool TryParseList(string? text, out List<(string Label, double Value)> budgets, out string error)
    {
        budgets = [];
        error = string.Empty;
        foreach (string part in (text ?? string.Empty).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!TryParse(part, out double b, out error))
            {
                return false;
            }
            budgets.Add((Label(part), b));
        }
        if (budgets.Count == 0)
        {
            error = "no budget given";
            return false;
        }
        return true;
    }

    /// <summary>The paper's way of writing a budget: "1" stays "1/1" so that every row reads as a fraction.</summary>
    public static string Label(string text)
    {
        string s = text.Trim();
        return s == "1" ? "1/1" : s;
    }

    private static bool TryNumber(ReadOnlySpan<char> s, out double value) =>
        double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out value) && double.IsFinite(value);
}
