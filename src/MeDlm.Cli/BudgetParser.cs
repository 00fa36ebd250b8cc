namespace MeDlm.Cli;

/// <summary>Budget lists for the commands that sweep budgets ("1,1/2,1/4"); each one is parsed by <see cref="Budget.TryParse(string?, out double, out bool, out string)"/>.</summary>
internal static class BudgetParser
{
    /// <summary>Parses a comma-separated list ("1,1/2,1/4").</summary>
    public static bool TryParseList(string? text, out List<(string Label, double Value)> budgets, out string error)
    {
        budgets = [];
        error = string.Empty;
        foreach (string part in (text ?? string.Empty).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!Budget.TryParse(part, out double b, out error))
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
}
