using System.Text;

namespace MeDlm.Tokenization;

/// <summary>
/// Text of a token stream as it grows: each call returns only the newly completed text. A token can end
/// inside a multi-byte UTF-8 character (byte-level BPE splits emoji and CJK into byte tokens), so the
/// bytes of an incomplete trailing character are held back until the next ids complete it; invalid bytes
/// become U+FFFD exactly where a one-shot <see cref="MeDlmTokenizer.Decode(ReadOnlySpan{int}, bool)"/> would put them, so the
/// concatenated output equals the decode of all ids. Not thread-safe: one per stream.
/// </summary>
public sealed class StreamingDecoder
{
    private readonly MeDlmTokenizer _tokenizer;
    private readonly bool _skipSpecialTokens;
    private readonly Decoder _utf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false).GetDecoder();
    private byte[] _bytes = new byte[64];
    private char[] _chars = new char[64];

    /// <summary>Creates a decoder for one stream of <paramref name="tokenizer"/> ids.</summary>
    public StreamingDecoder(MeDlmTokenizer tokenizer, bool skipSpecialTokens = false)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        _tokenizer = tokenizer;
        _skipSpecialTokens = skipSpecialTokens;
    }

    /// <summary>Ids taken so far.</summary>
    public int TokenCount { get; private set; }

    /// <summary>Adds one id; returns the text it completes (often empty for a partial character).</summary>
    public string Append(int id) => Append([id]);

    /// <summary>Adds <paramref name="ids"/>; returns the text they complete.</summary>
    public string Append(ReadOnlySpan<int> ids)
    {
        var chars = AppendChars(ids);
        return chars.IsEmpty ? string.Empty : new string(chars);
    }

    /// <summary>
    /// As <see cref="Append(ReadOnlySpan{int})"/> without allocating: the text is a view of an internal
    /// buffer, valid until the next call.
    /// </summary>
    public ReadOnlySpan<char> AppendChars(ReadOnlySpan<int> ids)
    {
        TokenCount += ids.Length;
        int n = _tokenizer.GetByteCount(ids, _skipSpecialTokens);
        if (n == 0)
        {
            return [];
        }

        if (_bytes.Length < n)
        {
            _bytes = new byte[Math.Max(n, _bytes.Length * 2)];
        }

        int written = _tokenizer.WriteBytes(ids, _bytes, _skipSpecialTokens);
        return Convert(_bytes.AsSpan(0, written), flush: false);
    }

    /// <summary>Ends the stream: held-back bytes of an incomplete character come out as U+FFFD.</summary>
    public string Flush()
    {
        var chars = Convert([], flush: true);
        return chars.IsEmpty ? string.Empty : new string(chars);
    }

    /// <summary>Forgets everything, ready for a new stream.</summary>
    public void Reset()
    {
        _utf8.Reset();
        TokenCount = 0;
    }

    private ReadOnlySpan<char> Convert(ReadOnlySpan<byte> bytes, bool flush)
    {
        // Up to 3 held-back bytes can each turn into a replacement character on top of the new ones.
        int max = bytes.Length + 4;
        if (_chars.Length < max)
        {
            _chars = new char[Math.Max(max, _chars.Length * 2)];
        }

        int count = _utf8.GetChars(bytes, _chars, flush);
        return _chars.AsSpan(0, count);
    }
}
