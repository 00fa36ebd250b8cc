using System.Buffers;
using System.Text.RegularExpressions;

namespace MeDlm.Tokenization;

/// <summary>One pre-tokenizer split step (a Split regex in Isolated mode, or ByteLevel's own regex).</summary>
internal abstract class SplitStage
{
    /// <summary>The regex this stage implements, as written in tokenizer.json.</summary>
    public abstract string Pattern { get; }

    /// <summary>Appends the pieces of <paramref name="text"/> as (start, length) pairs offset by <paramref name="offset"/>.</summary>
    public abstract void Split(ReadOnlySpan<char> text, int offset, ref IntBuffer pieces);

    /// <summary>The stage for a pattern: a code-point scanner when the pattern is a known one, else .NET Regex.</summary>
    public static SplitStage For(string pattern) => pattern switch
    {
        PieceScanner.Gpt2Pattern => new Gpt2Stage(),
        PieceScanner.Llama3Pattern => new Llama3Stage(pattern, 3),
        PieceScanner.Qwen2Pattern => new Llama3Stage(pattern, 1),
        _ => new RegexStage(pattern),
    };

    private sealed class Gpt2Stage : SplitStage
    {
        public override string Pattern => PieceScanner.Gpt2Pattern;

        public override void Split(ReadOnlySpan<char> text, int offset, ref IntBuffer pieces)
        {
            int i = 0;
            while (i < text.Length)
            {
                int end = PieceScanner.Gpt2End(text, i);
                pieces.Add(offset + i);
                pieces.Add(end - i);
                i = end;
            }
        }
    }

    private sealed class Llama3Stage(string pattern, int maxDigits) : SplitStage
    {
        public override string Pattern => pattern;

        public override void Split(ReadOnlySpan<char> text, int offset, ref IntBuffer pieces)
        {
            int i = 0;
            while (i < text.Length)
            {
                int end = PieceScanner.Llama3End(text, i, maxDigits);
                pieces.Add(offset + i);
                pieces.Add(end - i);
                i = end;
            }
        }
    }

    /// <summary>
    /// Any other pattern, with the Hugging Face "Isolated" behaviour: matches and the gaps between them are
    /// all pieces. Classifies UTF-16 code units (see <see cref="PieceScanner"/>).
    /// </summary>
    private sealed class RegexStage(string pattern) : SplitStage
    {
        private readonly Regex _regex = new(pattern, RegexOptions.CultureInvariant | RegexOptions.Compiled);

        public override string Pattern => pattern;

        public override void Split(ReadOnlySpan<char> text, int offset, ref IntBuffer pieces)
        {
            int last = 0;
            foreach (var m in _regex.EnumerateMatches(text))
            {
                if (m.Length == 0)
                {
                    continue;
                }

                if (m.Index > last)
                {
                    pieces.Add(offset + last);
                    pieces.Add(m.Index - last);
                }

                pieces.Add(offset + m.Index);
                pieces.Add(m.Length);
                last = m.Index + m.Length;
            }

            if (last < text.Length)
            {
                pieces.Add(offset + last);
                pieces.Add(text.Length - last);
            }
        }
    }
}

/// <summary>A growable int list over a pooled array (free it with <see cref="Dispose"/>).</summary>
internal struct IntBuffer : IDisposable
{
    private int[] _items;
    private int _count;

    public IntBuffer(int capacity)
    {
        _items = ArrayPool<int>.Shared.Rent(Math.Max(capacity, 16));
        _count = 0;
    }

    public readonly int Count => _count;

    public readonly ReadOnlySpan<int> Span => _items.AsSpan(0, _count);

    public void Add(int value)
    {
        if (_count == _items.Length)
        {
            Grow(_count + 1);
        }

        _items[_count++] = value;
    }

    public void AddRange(ReadOnlySpan<int> values)
    {
        if (_count + values.Length > _items.Length)
        {
            Grow(_count + values.Length);
        }

        values.CopyTo(_items.AsSpan(_count));
        _count += values.Length;
    }

    public void Clear() => _count = 0;

    private void Grow(int needed)
    {
        var bigger = ArrayPool<int>.Shared.Rent(Math.Max(needed, _items.Length * 2));
        _items.AsSpan(0, _count).CopyTo(bigger);
        ArrayPool<int>.Shared.Return(_items);
        _items = bigger;
    }

    public void Dispose()
    {
        if (_items is not null)
        {
            ArrayPool<int>.Shared.Return(_items);
            _items = null!;
        }
    }
}
