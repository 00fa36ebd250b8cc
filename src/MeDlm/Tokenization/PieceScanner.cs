using System.Globalization;
using System.Runtime.CompilerServices;

namespace MeDlm.Tokenization;

/// <summary>
/// Hand-written scanners for the split regexes real byte-level tokenizers use. They classify whole code
/// points: .NET's Regex classifies UTF-16 code units, so a letter outside the BMP (U+1D400, CJK extension B)
/// is not <c>\p{L}</c> there and an emoji followed by a letter splits differently than in the Python/Rust
/// reference. Each method returns where the piece that starts at <c>start</c> ends; the regex alternation
/// order and its backtracking are reproduced branch by branch.
/// </summary>
internal static class PieceScanner
{
    /// <summary>GPT-2's split (ByteLevel with use_regex = true).</summary>
    public const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    /// <summary>Llama-3's split (digits in groups of up to three).</summary>
    public const string Llama3Pattern = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>Qwen2's split: Llama-3's with single digits.</summary>
    public const string Qwen2Pattern = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    internal enum CharClass : byte
    {
        Letter,
        Number,
        Space,
        Other,
    }

    private static readonly CharClass[] AsciiClass = BuildAscii();

    private static CharClass[] BuildAscii()
    {
        var t = new CharClass[128];
        for (int c = 0; c < 128; c++)
        {
            t[c] = c switch
            {
                >= 'a' and <= 'z' or >= 'A' and <= 'Z' => CharClass.Letter,
                >= '0' and <= '9' => CharClass.Number,
                ' ' or '\t' or '\n' or '\v' or '\f' or '\r' => CharClass.Space,
                _ => CharClass.Other,
            };
        }

        return t;
    }

    /// <summary>Class of a code point: \p{L}, \p{N}, \s (the Unicode White_Space set) or anything else.</summary>
    internal static CharClass Classify(int cp)
    {
        if (cp < 128)
        {
            return AsciiClass[cp];
        }

        if (cp < 0x10000 && char.IsWhiteSpace((char)cp))
        {
            return CharClass.Space;
        }

        switch (CharUnicodeInfo.GetUnicodeCategory(cp))
        {
            case UnicodeCategory.UppercaseLetter:
            case UnicodeCategory.LowercaseLetter:
            case UnicodeCategory.TitlecaseLetter:
            case UnicodeCategory.ModifierLetter:
            case UnicodeCategory.OtherLetter:
                return CharClass.Letter;
            case UnicodeCategory.DecimalDigitNumber:
            case UnicodeCategory.LetterNumber:
            case UnicodeCategory.OtherNumber:
                return CharClass.Number;
            default:
                return CharClass.Other;
        }
    }

    /// <summary>The code point at <paramref name="i"/> and how many chars it takes (a lone surrogate counts as one).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int CodePoint(ReadOnlySpan<char> s, int i, out int width)
    {
        char c = s[i];
        if (char.IsHighSurrogate(c) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
        {
            width = 2;
            return char.ConvertToUtf32(c, s[i + 1]);
        }

        width = 1;
        return c;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static CharClass ClassAt(ReadOnlySpan<char> s, int i, out int width) => Classify(CodePoint(s, i, out width));

    /// <summary>End of the run of <paramref name="cls"/> code points starting at <paramref name="i"/>.</summary>
    private static int RunEnd(ReadOnlySpan<char> s, int i, CharClass cls)
    {
        while (i < s.Length && ClassAt(s, i, out int w) == cls)
        {
            i += w;
        }

        return i;
    }

    private static int RunEndMax(ReadOnlySpan<char> s, int i, CharClass cls, int max)
    {
        for (int n = 0; n < max && i < s.Length && ClassAt(s, i, out int w) == cls; n++)
        {
            i += w;
        }

        return i;
    }

    /// <summary>Length of the contraction ('s 't 're 've 'm 'll 'd) at <paramref name="i"/>, or 0.</summary>
    private static int Contraction(ReadOnlySpan<char> s, int i, bool ignoreCase)
    {
        if (s[i] != '\'' || i + 1 >= s.Length)
        {
            return 0;
        }

        char a = Fold(s[i + 1], ignoreCase);
        char b = i + 2 < s.Length ? Fold(s[i + 2], ignoreCase) : '\0';
        switch (a)
        {
            case 's':
            case 't':
            case 'm':
            case 'd':
                return 2;
            case 'r' when b == 'e':
            case 'v' when b == 'e':
            case 'l' when b == 'l':
                return 3;
            default:
                return 0;
        }
    }

    // (?i) in the reference regex uses simple case folding: 'S' and U+017F LONG S both match 's'.
    private static char Fold(char c, bool ignoreCase)
    {
        if (!ignoreCase)
        {
            return c;
        }

        if (c is >= 'A' and <= 'Z')
        {
            return (char)(c + 32);
        }

        return c == '\u017F' ? 's' : c;
    }

    /// <summary>
    /// Whitespace tail shared by both patterns: <c>\s+(?!\S)|\s+</c>. A run followed by a non-space gives
    /// back its last char (so " word" keeps its space), except a single char, which <c>\s+</c> takes.
    /// </summary>
    private static int WhitespaceEnd(ReadOnlySpan<char> s, int start)
    {
        int j = RunEnd(s, start, CharClass.Space);
        if (j == s.Length || j - start < 2)
        {
            return j;
        }

        return j - 1; // White_Space characters are all in the BMP: one char each.
    }

    /// <summary>End of the GPT-2 piece starting at <paramref name="start"/>.</summary>
    public static int Gpt2End(ReadOnlySpan<char> s, int start)
    {
        int k = Contraction(s, start, ignoreCase: false);
        if (k > 0)
        {
            return start + k;
        }

        var cls = ClassAt(s, start, out int w);
        if (s[start] == ' ' && start + 1 < s.Length)
        {
            // " ?X+": a single space joins the letter, number or symbol run that follows it.
            var next = ClassAt(s, start + 1, out _);
            if (next != CharClass.Space)
            {
                return RunEnd(s, start + 1, next);
            }
        }

        return cls == CharClass.Space ? WhitespaceEnd(s, start) : RunEnd(s, start + w, cls);
    }

    /// <summary>End of the Llama-3 / Qwen2 piece starting at <paramref name="start"/>.</summary>
    public static int Llama3End(ReadOnlySpan<char> s, int start, int maxDigits)
    {
        int k = Contraction(s, start, ignoreCase: true);
        if (k > 0)
        {
            return start + k;
        }

        char c0 = s[start];
        var cls = ClassAt(s, start, out int w);

        // [^\r\n\p{L}\p{N}]?\p{L}+
        if (cls == CharClass.Letter)
        {
            return RunEnd(s, start + w, CharClass.Letter);
        }

        if (cls != CharClass.Number && c0 != '\r' && c0 != '\n' && start + w < s.Length
            && ClassAt(s, start + w, out _) == CharClass.Letter)
        {
            return RunEnd(s, start + w, CharClass.Letter);
        }

        // \p{N}{1,3}
        if (cls == CharClass.Number)
        {
            return RunEndMax(s, start, CharClass.Number, maxDigits);
        }

        // " ?[^\s\p{L}\p{N}]+[\r\n]*"
        int symbolStart = -1;
        if (cls == CharClass.Other)
        {
            symbolStart = start;
        }
        else if (c0 == ' ' && start + 1 < s.Length && ClassAt(s, start + 1, out _) == CharClass.Other)
        {
            symbolStart = start + 1;
        }

        if (symbolStart >= 0)
        {
            int e = RunEnd(s, symbolStart, CharClass.Other);
            while (e < s.Length && (s[e] == '\r' || s[e] == '\n'))
            {
                e++;
            }

            return e;
        }

        // \s*[\r\n]+ : the whitespace run up to and including its last line break.
        int runEnd = RunEnd(s, start, CharClass.Space);
        for (int p = runEnd - 1; p >= start; p--)
        {
            if (s[p] == '\r' || s[p] == '\n')
            {
                return p + 1;
            }
        }

        return WhitespaceEnd(s, start);
    }
}
