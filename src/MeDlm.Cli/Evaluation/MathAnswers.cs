using System.Text.RegularExpressions;

namespace MeDlm.Cli.Evaluation;

/// <summary>Final-answer extraction and comparison for the math sets.</summary>
internal static partial class MathAnswers
{
    [GeneratedRegex(@"-?\d+")]
    private static partial Regex Integer();

    [GeneratedRegex(@"\\boxed\{([^}]*)\}")]
    private static partial Regex FlatBoxed();

    [GeneratedRegex(@"-?\d[\d,]*(\.\d+)?|-?\.\d+")]
    private static partial Regex Number();

    /// <summary>
    /// The bundled held-out check, exactly as <c>corpus.check_math</c>: the last integer of the last
    /// <c>\boxed{...}</c> (no nested braces) if there is one, else the last integer of the text.
    /// </summary>
    public static bool CheckHeldout(string text, long answer)
    {
        ArgumentNullException.ThrowIfNull(text);
        MatchCollection boxed = FlatBoxed().Matches(text);
        string scope = boxed.Count > 0 ? boxed[^1].Groups[1].Value : text;
        MatchCollection ints = Integer().Matches(scope);
        if (ints.Count == 0)
        {
            return false;
        }
        // Python ints are unbounded; a number too long for long simply is not the answer.
        return long.TryParse(ints[^1].Value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long v) && v == answer;
    }

    /// <summary>The content of the last <c>\boxed{...}</c>, braces matched (MATH answers nest them); null if none.</summary>
    public static string? LastBoxed(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        int start = text.LastIndexOf("\\boxed{", StringComparison.Ordinal);
        while (start >= 0)
        {
            int open = start + "\\boxed{".Length;
            int depth = 1;
            for (int i = open; i < text.Length; i++)
            {
                if (text[i] == '{')
                {
                    depth++;
                }
                else if (text[i] == '}' && --depth == 0)
                {
                    return text[open..i];
                }
            }
            // Unclosed (a truncated answer): try an earlier one.
            start = start == 0 ? -1 : text.LastIndexOf("\\boxed{", start - 1, StringComparison.Ordinal);
        }
        return null;
    }

    /// <summary>The final number of an answer: the last number inside <c>\boxed{}</c> if any, else the last in the text.</summary>
    public static decimal? FinalNumber(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string scope = LastBoxed(text) ?? text;
        MatchCollection nums = Number().Matches(scope);
        if (nums.Count == 0)
        {
            return null;
        }
        string s = nums[^1].Value.Replace(",", string.Empty, StringComparison.Ordinal);
        return decimal.TryParse(s, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out decimal v)
            ? v
            : null;
    }

    /// <summary>GSM8K: the final number equals the reference answer (commas and trailing zeros ignored).</summary>
    public static bool CheckGsm8k(string text, string answer)
    {
        decimal? got = FinalNumber(text);
        decimal? want = FinalNumber(answer ?? string.Empty);
        return got is not null && want is not null && got.Value == want.Value;
    }

    /// <summary>MATH-500: the boxed answer equals the reference after <see cref="Normalize"/>.</summary>
    public static bool CheckMath500(string text, string answer)
    {
        string? boxed = LastBoxed(text);
        return boxed is not null && Normalize(boxed) == Normalize(answer ?? string.Empty);
    }

    /// <summary>
    /// A simple LaTeX answer normalisation: no whitespace, no <c>\left</c> / <c>\right</c> / <c>\!</c>,
    /// <c>\dfrac</c> and <c>\tfrac</c> as <c>\frac</c>, no surrounding <c>$</c>, no trailing <c>.0</c>.
    /// </summary>
    public static string Normalize(string answer)
    {
        ArgumentNullException.ThrowIfNull(answer);
        var sb = new StringBuilder(answer.Length);
        foreach (char c in answer)
        {
            if (!char.IsWhiteSpace(c))
            {
                sb.Append(c);
            }
        }
        sb.Replace("\\left", string.Empty)
            .Replace("\\right", string.Empty)
            .Replace("\\!", string.Empty)
            .Replace("\\dfrac", "\\frac")
            .Replace("\\tfrac", "\\frac");
        string s = sb.ToString();
        while (s.Length >= 2 && s[0] == '$' && s[^1] == '$')
        {
            s = s[1..^1];
        }
        while (s.EndsWith(".0", StringComparison.Ordinal) && s.Length > 2 && char.IsAsciiDigit(s[^3]))
        {
            s = s[..^2];
        }
        return s;
    }
}
