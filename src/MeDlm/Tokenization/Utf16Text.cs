namespace MeDlm.Tokenization;

/// <summary>
/// Well-formed UTF-16: every surrogate in a high-low pair. A .NET string can hold half a pair, which is
/// no character; encoding it to UTF-8 would silently turn it into U+FFFD, so the tokenizer refuses it.
/// </summary>
internal static class Utf16Text
{
    /// <summary>Index of the first surrogate without its partner, or -1.</summary>
    public static int IndexOfUnpairedSurrogate(ReadOnlySpan<char> text)
    {
        int i = text.IndexOfAnyInRange('\uD800', '\uDFFF');
        while (i >= 0)
        {
            if (!char.IsHighSurrogate(text[i]) || i + 1 == text.Length || !char.IsLowSurrogate(text[i + 1]))
            {
                return i;
            }
            i += 2;
            int next = text[i..].IndexOfAnyInRange('\uD800', '\uDFFF');
            i = next < 0 ? -1 : i + next;
        }
        return -1;
    }

    /// <summary>Throws <see cref="ArgumentException"/> for <paramref name="paramName"/> when <paramref name="text"/> is not well-formed.</summary>
    /// <param name="text">The text to check.</param>
    /// <param name="paramName">The parameter the text came in.</param>
    /// <param name="what">How the message names the text ("The text", "Message 2").</param>
    public static void ThrowIfUnpairedSurrogate(ReadOnlySpan<char> text, string paramName, string what = "The text")
    {
        int at = IndexOfUnpairedSurrogate(text);
        if (at >= 0)
        {
            throw new ArgumentException(
                $"{what} holds an unpaired UTF-16 surrogate (U+{(int)text[at]:X4}) at index {at}; text must be well-formed UTF-16 (half a surrogate pair is no character).",
                paramName);
        }
    }
}
