using MeDlm.Model;
using MeDlm.Tokenization;

namespace MeDlm.Generation;

/// <summary>
/// The answer of a result as an API returns it (the server, the chat client): its length for usage, the
/// text cut at stop sequences, the finish reason, and the pieces of a token-by-token stream.
/// </summary>
public static class AnswerText
{
    /// <summary>
    /// Where an answer ends: the number of tokens before the first END, PAD or EOS (all of them when there is
    /// none). The one definition of an answer's length; <see cref="GenerationResult.AnswerLength"/> holds it.
    /// </summary>
    public static int AnswerLength(ReadOnlySpan<int> response, SpecialTokens special)
    {
        ArgumentNullException.ThrowIfNull(special);
        for (int i = 0; i < response.Length; i++)
        {
            if (IsEnd(response[i], special))
            {
                return i;
            }
        }
        return response.Length;
    }

    /// <summary>
    /// <paramref name="text"/> cut before the earliest stop sequence; <paramref name="stopped"/> says whether one was found.
    /// </summary>
    public static string ApplyStop(string text, IReadOnlyList<string> stop, out bool stopped)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(stop);
        int cut = -1;
        foreach (string s in stop)
        {
            int at = text.IndexOf(s, StringComparison.Ordinal);
            if (at >= 0 && (cut < 0 || at < cut))
            {
                cut = at;
            }
        }
        stopped = cut >= 0;
        return stopped ? text[..cut] : text;
    }

    /// <summary>
    /// Splits <paramref name="text"/> (a prefix of <see cref="GenerationResult.Text"/>, such as the text cut
    /// at a stop sequence) into the pieces a token-by-token stream would have sent, so that a streamed answer
    /// looks like an autoregressive one. The pieces come from the one decode that made the text; they always
    /// concatenate to <paramref name="text"/>.
    /// </summary>
    public static List<string> StreamPieces(GenerationResult result, string text)
    {
        ArgumentNullException.ThrowIfNull(result);
        ArgumentNullException.ThrowIfNull(text);
        var pieces = new List<string>();
        ReadOnlySpan<int> ends = result.AnswerPieceEnds;
        int emitted = 0;
        for (int i = 0; i < ends.Length && emitted < text.Length; i++)
        {
            int end = Math.Min(ends[i], text.Length);
            if (end > emitted)
            {
                pieces.Add(text[emitted..end]);
                emitted = end;
            }
        }
        if (emitted < text.Length)
        {
            // Not a prefix of the result's text (it should be): send the rest whole.
            pieces.Add(text[emitted..]);
        }
        return pieces;
    }

    private static bool IsEnd(int id, SpecialTokens special) => id == special.Pad || id == special.End || id == special.Eos;
}
