namespace MeDlm.Cli.Evaluation;

/// <summary>The ME-DLM evaluation's code extraction for HumanEval / MBPP completions.</summary>
internal static class CodeExtraction
{
    /// <summary>Where a completion's code ends: test scaffolding or the closing fence that models add after it.</summary>
    public static readonly string[] StopSequences = ["\n# Test", "\nif", "\nassert", "\nprint", "\n```", "\ncheck"];

    /// <summary>
    /// The text after the first <c>```</c> fence line (the whole text when there is no fence), cut at the
    /// first of <see cref="StopSequences"/>.
    /// </summary>
    public static string Extract(string completion)
    {
        ArgumentNullException.ThrowIfNull(completion);
        string code = completion;
        int fence = completion.IndexOf("```", StringComparison.Ordinal);
        if (fence >= 0)
        {
            // Skip the rest of the fence line ("```python").
            int eol = completion.IndexOf('\n', fence);
            code = eol < 0 ? string.Empty : completion[(eol + 1)..];
        }
        int cut = code.Length;
        foreach (string stop in StopSequences)
        {
            int at = code.IndexOf(stop, StringComparison.Ordinal);
            if (at >= 0 && at < cut)
            {
                cut = at;
            }
        }
        return code[..cut];
    }
}
