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
    /// Splits <paramref name="text"/> (a prefix of the decoded response) into the pieces a token-by-token
    /// stream would have sent, so that a streamed answer looks like an autoregressive one; the pieces
    /// always concatenate to <paramref name="text"/>.
    /// </summary>
    public static List<string> StreamPieces(GenerationResult result, SpecialTokens special, MeDlmTokenizer tokenizer, string text)
    {
        ArgumentNullException.ThrowIfNull(result);
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(text);
        var pieces = new List<string>();
        var decoder = new StreamingDecoder(tokenizer, skipSpecialTokens: true);
        int length = result.AnswerLength;
        int emitted = 0;
        for (int i = 0; i < length && emitted < text.Length; i++)
        {
            string piece = decoder.Append(result.TokenIds[i]);
            if (piece.Length == 0)
            {
                continue;
            }
            int take = Math.Min(piece.Length, text.Length - emitted);
            if (!text.AsSpan(emitted, take).SequenceEqual(piece.AsSpan(0, take)))
            {
                // The decoded tokens and the text disagree (they should not): send the rest whole.
                break;
            }
            pieces.Add(piece[..take]);
            emitted += take;
        }
        if (emitted < text.Length)
        {
            pieces.Add(text[emitted..]);
        }
        return pieces;
    }

    private static bool IsEnd(int id, SpecialTokens special) => id == special.Pad || id == special.End || id == special.Eos;
}
