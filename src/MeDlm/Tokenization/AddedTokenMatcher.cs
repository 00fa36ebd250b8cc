using System.Buffers;

namespace MeDlm.Tokenization;

/// <summary>
/// Finds added tokens ("&lt;|im_start|&gt;", "&lt;|mdm_mask|&gt;" ...) in raw text, leftmost first and the
/// longest one at a position, as the reference does; the text between them is what BPE sees.
/// </summary>
internal sealed class AddedTokenMatcher
{
    private readonly SearchValues<char> _firstChars;
    private readonly Dictionary<char, (string Content, int Id)[]> _byFirstChar;

    public AddedTokenMatcher(IEnumerable<KeyValuePair<string, int>> tokens)
    {
        var groups = new Dictionary<char, List<(string, int)>>();
        foreach (var (content, id) in tokens)
        {
            if (content.Length == 0)
            {
                continue;
            }

            if (!groups.TryGetValue(content[0], out var list))
            {
                groups[content[0]] = list = [];
            }

            list.Add((content, id));
        }

        _byFirstChar = new Dictionary<char, (string, int)[]>(groups.Count);
        var firsts = new char[groups.Count];
        int n = 0;
        foreach (var (c, list) in groups)
        {
            // Longest first: at one position the longest added token wins.
            list.Sort(static (a, b) => b.Item1.Length != a.Item1.Length
                ? b.Item1.Length.CompareTo(a.Item1.Length)
                : string.CompareOrdinal(a.Item1, b.Item1));
            _byFirstChar[c] = [.. list];
            firsts[n++] = c;
        }

        _firstChars = SearchValues.Create(firsts);
        IsEmpty = n == 0;
    }

    public bool IsEmpty { get; }

    /// <summary>The first added token at or after <paramref name="start"/>; false when there is none.</summary>
    public bool TryFindNext(ReadOnlySpan<char> text, int start, out int matchStart, out int matchLength, out int id)
    {
        int i = start;
        while (!IsEmpty && i < text.Length)
        {
            int k = text[i..].IndexOfAny(_firstChars);
            if (k < 0)
            {
                break;
            }

            i += k;
            var rest = text[i..];
            foreach (var (content, tokenId) in _byFirstChar[text[i]])
            {
                if (rest.StartsWith(content, StringComparison.Ordinal))
                {
                    matchStart = i;
                    matchLength = content.Length;
                    id = tokenId;
                    return true;
                }
            }

            i++;
        }

        matchStart = text.Length;
        matchLength = 0;
        id = -1;
        return false;
    }
}
