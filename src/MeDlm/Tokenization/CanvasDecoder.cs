using System.Runtime.InteropServices;
using System.Text;

namespace MeDlm.Tokenization;

/// <summary>
/// Decodes the whole current canvas (the response ids, masks included) each diffusion step, when any
/// position may have changed. One O(N) pass into buffers reused across steps: no allocation per step
/// unless the canvas outgrows them. Also reports where the text first differs from the previous step so
/// a viewer can redraw only the tail. Not thread-safe: one per sequence.
/// </summary>
public sealed class CanvasDecoder
{
    private readonly MeDlmTokenizer _tokenizer;
    private readonly bool _skipSpecialTokens;
    private byte[] _bytes = new byte[256];
    private char[] _chars = new char[256];
    private char[] _previous = new char[256];
    private int _previousLength;

    /// <summary>Creates a decoder for canvases of <paramref name="tokenizer"/> ids.</summary>
    public CanvasDecoder(MeDlmTokenizer tokenizer, bool skipSpecialTokens = false)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        _tokenizer = tokenizer;
        _skipSpecialTokens = skipSpecialTokens;
    }

    /// <summary>Index of the first char that differs from the previous <see cref="Decode"/> (its length when only appended to).</summary>
    public int FirstChangedChar { get; private set; }

    /// <summary>
    /// Text of <paramref name="canvas"/>, the same as <see cref="MeDlmTokenizer.Decode(ReadOnlySpan{int}, bool)"/>; the span views an
    /// internal buffer and is valid until the next call.
    /// </summary>
    public ReadOnlySpan<char> Decode(ReadOnlySpan<int> canvas)
    {
        // Keep the previous text for FirstChangedChar by swapping buffers instead of copying.
        (_previous, _chars) = (_chars, _previous);
        int previousLength = _previousLength;

        int n = _tokenizer.GetByteCount(canvas, _skipSpecialTokens);
        if (_bytes.Length < n)
        {
            _bytes = new byte[Math.Max(n, _bytes.Length * 2)];
        }

        int written = _tokenizer.WriteBytes(canvas, _bytes, _skipSpecialTokens);
        var bytes = _bytes.AsSpan(0, written);
        // UTF-8 never gives more UTF-16 chars than bytes (a replacement char stands for at least one byte).
        if (_chars.Length < written)
        {
            _chars = new char[Math.Max(written, _chars.Length * 2)];
        }

        int count = Encoding.UTF8.GetChars(bytes, _chars);
        var text = _chars.AsSpan(0, count);
        // As ushort: CommonPrefixLength is vectorized for primitive numbers, not for char.
        FirstChangedChar = MemoryMarshal.Cast<char, ushort>(text).CommonPrefixLength(MemoryMarshal.Cast<char, ushort>(_previous.AsSpan(0, previousLength)));
        _previousLength = count;
        return text;
    }

    /// <summary>As <see cref="Decode"/>, as a new string.</summary>
    public string DecodeToString(ReadOnlySpan<int> canvas) => new(Decode(canvas));
}
