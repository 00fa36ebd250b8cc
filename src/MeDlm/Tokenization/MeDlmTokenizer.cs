using System.Buffers;
using System.Collections.Concurrent;
using System.Text;
using Microsoft.ML.Tokenizers;

namespace MeDlm.Tokenization;

/// <summary>
/// Byte-level BPE tokenizer read from a Hugging Face <c>tokenizer.json</c> (GPT-2 / Llama-3 style), with
/// the encoding of the Python reference (<c>export/tokenizer.py</c>) and of Hugging Face tokenizers:
/// added tokens are cut out of the raw text first (leftmost, longest), the rest is split by the
/// pre-tokenizer regex, and each piece is encoded by BPE over its UTF-8 bytes. No BOS/EOS is added; the
/// chat template decides what surrounds a prompt. Thread-safe; load once and share.
/// </summary>
/// <remarks>
/// BPE merging is done by a Microsoft.ML.Tokenizers <see cref="BpeTokenizer"/> (exposed as
/// <see cref="Bpe"/>), which cannot read tokenizer.json itself. Splitting is done here: the library's
/// regex pre-tokenizer classifies UTF-16 code units rather than code points, and its default
/// pre-tokenizer drops whitespace. Decoding is done here too, from a flat table of token bytes, so that
/// decoding N ids is one O(N) pass into a pooled buffer.
/// Not supported (a load error names what): non-byte-level models (WordPiece, Unigram, SentencePiece BPE
/// with byte_fallback), normalizers other than NFC/NFD/NFKC/NFKD, pre-tokenizers other than ByteLevel and
/// Split (Isolated). Ignored: the post_processor (no BOS/EOS is added) and the lstrip/rstrip/single_word/
/// normalized flags of added tokens (matched exactly in raw text, as the Python reference does). Code
/// points are classified with .NET's Unicode tables, which can be a version newer than the reference's;
/// a Split regex that is not the GPT-2, Llama-3 or Qwen2 one runs on .NET Regex (UTF-16 code units).
/// </remarks>
public sealed class MeDlmTokenizer
{
    // Pieces longer than this are rare (long digit or space runs) and not worth keeping.
    private const int MaxCachedPieceLength = 64;
    private const int MaxCacheEntries = 200_000;

    private readonly Dictionary<string, int> _vocab;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _vocabLookup;
    private readonly Dictionary<string, int> _addedByContent;
    private readonly AddedTokenMatcher _matcher;
    private readonly SplitStage[] _stages;
    private readonly NormalizationForm[] _normalizations;
    private readonly bool _addPrefixSpace;
    private readonly bool _ignoreMerges;

    // Decoding table: the bytes of id i are _tokenBytes[_byteOffsets[i].._byteOffsets[i + 1]].
    private readonly byte[] _tokenBytes;
    private readonly int[] _byteOffsets;
    private readonly bool[] _isSpecial;
    private readonly string?[] _tokenStrings;

    // Piece -> ids; the library's own cache still allocates a result list per call.
    private readonly ConcurrentDictionary<string, int[]> _pieceCache = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int[]>.AlternateLookup<ReadOnlySpan<char>> _pieceLookup;

    private MeDlmTokenizer(TokenizerDefinition def, string sourcePath)
    {
        SourcePath = sourcePath;
        _vocab = def.Vocab;
        _vocabLookup = _vocab.GetAlternateLookup<ReadOnlySpan<char>>();
        _pieceLookup = _pieceCache.GetAlternateLookup<ReadOnlySpan<char>>();
        _addPrefixSpace = def.AddPrefixSpace;
        _ignoreMerges = def.IgnoreMerges;
        _normalizations = [.. def.Normalizations];

        _stages = new SplitStage[def.SplitPatterns.Count];
        for (int i = 0; i < _stages.Length; i++)
        {
            _stages[i] = SplitStage.For(def.SplitPatterns[i]);
        }

        _addedByContent = new Dictionary<string, int>(StringComparer.Ordinal);
        int maxId = -1;
        foreach (var (_, id) in _vocab)
        {
            maxId = Math.Max(maxId, id);
        }

        foreach (var t in def.AddedTokens)
        {
            _addedByContent[t.Content] = t.Id;
            maxId = Math.Max(maxId, t.Id);
        }

        VocabSize = maxId + 1;
        _matcher = new AddedTokenMatcher(_addedByContent);

        _tokenStrings = new string?[VocabSize];
        foreach (var (token, id) in _vocab)
        {
            _tokenStrings[id] = token;
        }

        // An added token decodes to its content as UTF-8 even where it shares an id with a vocab entry.
        _isSpecial = new bool[VocabSize];
        var isAdded = new bool[VocabSize];
        foreach (var t in def.AddedTokens)
        {
            _tokenStrings[t.Id] = t.Content;
            isAdded[t.Id] = true;
        }

        foreach (var t in def.AddedTokens)
        {
            // The last entry for an id decides, as for its content above.
            _isSpecial[t.Id] = t.Special;
        }

        (_tokenBytes, _byteOffsets) = BuildByteTable(_tokenStrings, isAdded);
        Bpe = CreateBpe(def, sourcePath);
    }

    /// <summary>The file this tokenizer was read from.</summary>
    public string SourcePath { get; }

    /// <summary>Highest token id plus one (vocabulary and added tokens). Ids below it without a token decode to nothing.</summary>
    public int VocabSize { get; }

    /// <summary>
    /// The Microsoft.ML.Tokenizers BPE model that does the merging, configured with the same vocabulary,
    /// merges, special tokens and split regex, for code that wants the library's <see cref="Tokenizer"/>
    /// abstraction. Its own EncodeToIds ignores model.ignore_merges, the normalizer and
    /// add_prefix_space; <see cref="Encode(ReadOnlySpan{char})"/> honours them.
    /// </summary>
    public BpeTokenizer Bpe { get; }

    /// <summary>Reads <paramref name="tokenizerJsonPath"/>; any problem throws <see cref="ModelLoadException"/> naming the file.</summary>
    public static MeDlmTokenizer Load(string tokenizerJsonPath)
    {
        ArgumentException.ThrowIfNullOrEmpty(tokenizerJsonPath);
        return new MeDlmTokenizer(TokenizerJson.Read(tokenizerJsonPath), tokenizerJsonPath);
    }

    /// <summary>Same as <see cref="Load"/>.</summary>
    public static MeDlmTokenizer FromFile(string tokenizerJsonPath) => Load(tokenizerJsonPath);

    /// <summary>Builds a tokenizer from tokenizer.json content; <paramref name="sourceName"/> names it in errors.</summary>
    public static MeDlmTokenizer FromJson(ReadOnlySpan<byte> utf8Json, string sourceName)
    {
        ArgumentException.ThrowIfNullOrEmpty(sourceName);
        return new MeDlmTokenizer(TokenizerJson.Parse(utf8Json, sourceName), sourceName);
    }

    /// <summary>Token ids of <paramref name="text"/>.</summary>
    public int[] Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return Encode(text.AsSpan());
    }

    /// <summary>Token ids of <paramref name="text"/>.</summary>
    public int[] Encode(ReadOnlySpan<char> text)
    {
        if (text.IsEmpty)
        {
            return [];
        }

        var ids = new IntBuffer(text.Length / 3 + 8);
        try
        {
            EncodeCore(text, ref ids);
            return ids.Span.ToArray();
        }
        finally
        {
            ids.Dispose();
        }
    }

    /// <summary>
    /// Writes the ids of <paramref name="text"/> to <paramref name="destination"/> and returns how many;
    /// throws <see cref="ArgumentException"/> when they do not fit (see <see cref="TryEncode"/>).
    /// </summary>
    public int Encode(ReadOnlySpan<char> text, Span<int> destination)
    {
        if (!TryEncode(text, destination, out int written))
        {
            throw new ArgumentException($"The destination holds {destination.Length} ids; the text needs {written}.", nameof(destination));
        }

        return written;
    }

    /// <summary>
    /// Writes the ids of <paramref name="text"/> to <paramref name="destination"/>. Returns false, with
    /// <paramref name="written"/> set to the number needed, when they do not fit.
    /// </summary>
    public bool TryEncode(ReadOnlySpan<char> text, Span<int> destination, out int written)
    {
        var ids = new IntBuffer(Math.Max(destination.Length, 16));
        try
        {
            EncodeCore(text, ref ids);
            written = ids.Count;
            if (ids.Count > destination.Length)
            {
                return false;
            }

            ids.Span.CopyTo(destination);
            return true;
        }
        finally
        {
            ids.Dispose();
        }
    }

    /// <summary>Number of tokens <paramref name="text"/> encodes to.</summary>
    public int CountTokens(ReadOnlySpan<char> text)
    {
        TryEncode(text, [], out int n);
        return n;
    }

    /// <summary>
    /// Text of <paramref name="ids"/>: the bytes of every token, decoded as UTF-8 once at the end (invalid
    /// or incomplete sequences become U+FFFD). Added tokens decode to their content; with
    /// <paramref name="skipSpecialTokens"/> those marked special are left out. Ids without a token
    /// (negative, past <see cref="VocabSize"/>, gaps) decode to nothing: model outputs over a padded
    /// vocabulary never make decoding throw.
    /// </summary>
    public string Decode(ReadOnlySpan<int> ids, bool skipSpecialTokens = false)
    {
        int n = GetByteCount(ids, skipSpecialTokens);
        if (n == 0)
        {
            return string.Empty;
        }

        byte[] rented = ArrayPool<byte>.Shared.Rent(n);
        try
        {
            int written = WriteBytes(ids, rented, skipSpecialTokens);
            return Encoding.UTF8.GetString(rented, 0, written);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>Decodes into <paramref name="destination"/>; false when it is too small (nothing useful written then).</summary>
    public bool TryDecode(ReadOnlySpan<int> ids, Span<char> destination, out int charsWritten, bool skipSpecialTokens = false)
    {
        int n = GetByteCount(ids, skipSpecialTokens);
        byte[] rented = ArrayPool<byte>.Shared.Rent(Math.Max(n, 1));
        try
        {
            int written = WriteBytes(ids, rented, skipSpecialTokens);
            var bytes = rented.AsSpan(0, written);
            if (Encoding.UTF8.GetCharCount(bytes) > destination.Length)
            {
                charsWritten = 0;
                return false;
            }

            charsWritten = Encoding.UTF8.GetChars(bytes, destination);
            return true;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>Number of UTF-8 bytes the tokens of <paramref name="ids"/> stand for.</summary>
    public int GetByteCount(ReadOnlySpan<int> ids, bool skipSpecialTokens = false)
    {
        var offsets = _byteOffsets;
        var special = _isSpecial;
        int n = 0;
        foreach (int id in ids)
        {
            if ((uint)id < (uint)special.Length && !(skipSpecialTokens && special[id]))
            {
                n += offsets[id + 1] - offsets[id];
            }
        }

        return n;
    }

    /// <summary>
    /// Writes the raw bytes of <paramref name="ids"/> (not yet UTF-8 validated: one token can hold part of a
    /// character) and returns how many. Throws when <paramref name="destination"/> is shorter than
    /// <see cref="GetByteCount"/>.
    /// </summary>
    public int WriteBytes(ReadOnlySpan<int> ids, Span<byte> destination, bool skipSpecialTokens = false)
    {
        var offsets = _byteOffsets;
        var special = _isSpecial;
        var all = _tokenBytes.AsSpan();
        int n = 0;
        foreach (int id in ids)
        {
            if ((uint)id < (uint)special.Length && !(skipSpecialTokens && special[id]))
            {
                int start = offsets[id];
                int len = offsets[id + 1] - start;
                all.Slice(start, len).CopyTo(destination[n..]);
                n += len;
            }
        }

        return n;
    }

    /// <summary>The bytes token <paramref name="id"/> stands for (empty for an id without a token).</summary>
    public ReadOnlySpan<byte> GetTokenBytes(int id)
    {
        if ((uint)id >= (uint)_isSpecial.Length)
        {
            return [];
        }

        return _tokenBytes.AsSpan(_byteOffsets[id], _byteOffsets[id + 1] - _byteOffsets[id]);
    }

    /// <summary>The id of an added token marked special in tokenizer.json ("&lt;|mdm_mask|&gt;", "&lt;|im_end|&gt;" ...).</summary>
    public bool TryGetSpecialTokenId(string content, out int id)
    {
        ArgumentNullException.ThrowIfNull(content);
        if (_addedByContent.TryGetValue(content, out id) && _isSpecial[id])
        {
            return true;
        }

        id = -1;
        return false;
    }

    /// <summary>
    /// The id of <paramref name="token"/>: the content of an added token, or a vocabulary entry in its
    /// byte-level spelling (a leading space is "Ġ").
    /// </summary>
    public bool TryGetTokenId(string token, out int id)
    {
        ArgumentNullException.ThrowIfNull(token);
        return _addedByContent.TryGetValue(token, out id) || _vocab.TryGetValue(token, out id);
    }

    /// <summary>The token string of <paramref name="id"/> (byte-level spelling, or an added token's content); null when none.</summary>
    public string? GetToken(int id) => (uint)id < (uint)_tokenStrings.Length ? _tokenStrings[id] : null;

    /// <summary>Whether <paramref name="id"/> is an added token marked special (skipped by skipSpecialTokens).</summary>
    public bool IsSpecial(int id) => (uint)id < (uint)_isSpecial.Length && _isSpecial[id];

    private void EncodeCore(ReadOnlySpan<char> text, ref IntBuffer ids)
    {
        Utf16Text.ThrowIfUnpairedSurrogate(text, nameof(text));
        int pos = 0;
        while (pos < text.Length)
        {
            bool found = _matcher.TryFindNext(text, pos, out int start, out int length, out int id);
            if (start > pos)
            {
                EncodeChunk(text[pos..start], ref ids);
            }

            if (!found)
            {
                break;
            }

            ids.Add(id);
            pos = start + length;
        }
    }

    /// <summary>Text between added tokens: normalize, split into pieces, BPE each piece.</summary>
    private void EncodeChunk(ReadOnlySpan<char> chunk, ref IntBuffer ids)
    {
        if (_normalizations.Length > 0)
        {
            string s = chunk.ToString();
            foreach (var form in _normalizations)
            {
                s = s.Normalize(form);
            }

            chunk = s;
        }

        char[]? prefixed = null;
        if (_addPrefixSpace && chunk.Length > 0 && chunk[0] != ' ')
        {
            prefixed = ArrayPool<char>.Shared.Rent(chunk.Length + 1);
            prefixed[0] = ' ';
            chunk.CopyTo(prefixed.AsSpan(1));
            chunk = prefixed.AsSpan(0, chunk.Length + 1);
        }

        var pieces = new IntBuffer(32);
        try
        {
            SplitChunk(chunk, ref pieces);
            var p = pieces.Span;
            for (int i = 0; i < p.Length; i += 2)
            {
                EncodePiece(chunk.Slice(p[i], p[i + 1]), ref ids);
            }
        }
        finally
        {
            pieces.Dispose();
            if (prefixed is not null)
            {
                ArrayPool<char>.Shared.Return(prefixed);
            }
        }
    }

    /// <summary>Applies the split stages in order; pieces are (start, length) pairs into <paramref name="chunk"/>.</summary>
    internal void SplitChunk(ReadOnlySpan<char> chunk, ref IntBuffer pieces)
    {
        if (_stages.Length == 0)
        {
            pieces.Add(0);
            pieces.Add(chunk.Length);
            return;
        }

        _stages[0].Split(chunk, 0, ref pieces);
        for (int s = 1; s < _stages.Length; s++)
        {
            var next = new IntBuffer(pieces.Count * 2);
            var cur = pieces.Span;
            for (int i = 0; i < cur.Length; i += 2)
            {
                _stages[s].Split(chunk.Slice(cur[i], cur[i + 1]), cur[i], ref next);
            }

            pieces.Dispose();
            pieces = next;
        }
    }

    private void EncodePiece(ReadOnlySpan<char> piece, ref IntBuffer ids)
    {
        if (_pieceLookup.TryGetValue(piece, out int[]? cached))
        {
            ids.AddRange(cached);
            return;
        }

        int[] result;
        if (_ignoreMerges && TryWholePiece(piece, out int whole))
        {
            result = [whole];
        }
        else
        {
            var list = Bpe.EncodeToIds(piece, considerPreTokenization: false, considerNormalization: false);
            result = new int[list.Count];
            for (int i = 0; i < result.Length; i++)
            {
                result[i] = list[i];
            }
        }

        if (piece.Length <= MaxCachedPieceLength)
        {
            if (_pieceCache.Count >= MaxCacheEntries)
            {
                _pieceCache.Clear();
            }

            _pieceLookup.TryAdd(piece, result);
        }

        ids.AddRange(result);
    }

    /// <summary>ignore_merges: the piece's byte-level spelling looked up as a whole.</summary>
    private bool TryWholePiece(ReadOnlySpan<char> piece, out int id)
    {
        int maxBytes = Encoding.UTF8.GetMaxByteCount(piece.Length);
        byte[] bytes = ArrayPool<byte>.Shared.Rent(maxBytes);
        char[] symbols = ArrayPool<char>.Shared.Rent(maxBytes);
        try
        {
            int n = Encoding.UTF8.GetBytes(piece, bytes);
            for (int i = 0; i < n; i++)
            {
                symbols[i] = ByteLevel.ByteToChar[bytes[i]];
            }

            return _vocabLookup.TryGetValue(symbols.AsSpan(0, n), out id);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(bytes);
            ArrayPool<char>.Shared.Return(symbols);
        }
    }

    private static (byte[] Bytes, int[] Offsets) BuildByteTable(string?[] tokens, bool[] isAdded)
    {
        var offsets = new int[tokens.Length + 1];
        var buffer = new List<byte>(tokens.Length * 8);
        Span<byte> utf8 = stackalloc byte[4];
        for (int id = 0; id < tokens.Length; id++)
        {
            offsets[id] = buffer.Count;
            string? t = tokens[id];
            if (t is null)
            {
                continue;
            }

            if (isAdded[id])
            {
                buffer.AddRange(Encoding.UTF8.GetBytes(t));
                continue;
            }

            foreach (var rune in t.EnumerateRunes())
            {
                // A symbol outside the byte table stands for itself (as the Hugging Face ByteLevel decoder does).
                int b = rune.IsBmp ? ByteLevel.CharToByte((char)rune.Value) : -1;
                if (b >= 0)
                {
                    buffer.Add((byte)b);
                }
                else
                {
                    int k = rune.EncodeToUtf8(utf8);
                    for (int j = 0; j < k; j++)
                    {
                        buffer.Add(utf8[j]);
                    }
                }
            }
        }

        offsets[tokens.Length] = buffer.Count;
        return (buffer.ToArray(), offsets);
    }

    private BpeTokenizer CreateBpe(TokenizerDefinition def, string sourcePath)
    {
        var merges = new List<string>(def.Merges.Count);
        foreach (var (left, right) in def.Merges)
        {
            merges.Add(string.Concat(left, " ", right));
        }

        var special = new Dictionary<string, int>(_addedByContent, StringComparer.Ordinal);
        try
        {
            return BpeTokenizer.Create(new BpeOptions(def.Vocab)
            {
                Merges = merges,
                SpecialTokens = special,
                // Never left null: the library then falls back to a word/non-word regex that drops spaces.
                PreTokenizer = new SplittingPreTokenizer(this),
                ByteLevel = true,
            });
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException or FormatException)
        {
            throw new ModelLoadException(sourcePath, $"Microsoft.ML.Tokenizers rejected the BPE model: {e.Message}", e);
        }
    }

    /// <summary>
    /// The same splitting as <see cref="Encode(ReadOnlySpan{char})"/> (added tokens, then the split
    /// regexes) in the shape Microsoft.ML.Tokenizers asks for, so <see cref="Bpe"/> works on its own.
    /// </summary>
    private sealed class SplittingPreTokenizer(MeDlmTokenizer owner) : PreTokenizer
    {
        public override IEnumerable<(int Offset, int Length)> PreTokenize(string text) =>
            PreTokenize(text.AsSpan());

        public override IEnumerable<(int Offset, int Length)> PreTokenize(ReadOnlySpan<char> text)
        {
            var result = new List<(int, int)>();
            var pieces = new IntBuffer(32);
            try
            {
                int pos = 0;
                while (pos < text.Length)
                {
                    bool found = owner._matcher.TryFindNext(text, pos, out int start, out int length, out _);
                    if (start > pos)
                    {
                        pieces.Clear();
                        owner.SplitChunk(text[pos..start], ref pieces);
                        var p = pieces.Span;
                        for (int i = 0; i < p.Length; i += 2)
                        {
                            result.Add((pos + p[i], p[i + 1]));
                        }
                    }

                    if (!found)
                    {
                        break;
                    }

                    result.Add((start, length));
                    pos = start + length;
                }
            }
            finally
            {
                pieces.Dispose();
            }

            return result;
        }
    }
}
