using System.Buffers;
using System.Collections.Concurrent;
using System.Text;
using Microsoft.ML.Tokenizers;

namespace MeDlm.Tokenization;

/// <summary>
/// Byte-level BPE tokenizer read from a Hugging Face <c>tokenizer.json</c> (GPT-2 / Llama-3 / Qwen2 style), a
/// Microsoft.ML.Tokenizers <see cref="Tokenizer"/>: code written against the library takes it as is
/// (<see cref="Tokenizer.EncodeToIds(string, bool, bool)"/>, <see cref="Tokenizer.EncodeToTokens(string, out string?, bool, bool)"/>,
/// <see cref="Tokenizer.CountTokens(string, bool, bool)"/>, <see cref="Tokenizer.GetIndexByTokenCount(string, int, out string?, out int, bool, bool)"/>,
/// <see cref="Tokenizer.Decode(IEnumerable{int})"/>). The encoding is that of Hugging Face tokenizers and of
/// the Python reference (<c>export/tokenizer.py</c>): added tokens are cut out of the raw text first
/// (leftmost, longest), the text between them is normalized, split by the pre-tokenizer regexes, and each
/// piece is encoded by BPE over its UTF-8 bytes. No BOS/EOS is added; the chat template decides what
/// surrounds a prompt. Thread-safe; load once and share.
/// </summary>
/// <remarks>
/// <c>considerNormalization: false</c> skips the normalizer and add_prefix_space; <c>considerPreTokenization:
/// false</c> encodes the whole text as one BPE piece (no added-token matching, no regex split). Token offsets
/// (<see cref="EncodedToken.Offset"/>) index the normalized text; a token that holds only part of a
/// character's UTF-8 bytes covers that whole character, and a token count limit only cuts where a token
/// ends on a character boundary.
/// BPE merging is done by a Microsoft.ML.Tokenizers <see cref="BpeTokenizer"/>, which cannot read
/// tokenizer.json itself; splitting and decoding are done here (the library's regex pre-tokenizer
/// classifies UTF-16 code units rather than code points, and decoding N ids here is one O(N) pass into a
/// pooled buffer).
/// Not supported (a load error names what): non-byte-level models (WordPiece, Unigram, SentencePiece BPE
/// with byte_fallback), normalizers other than NFC/NFD/NFKC/NFKD, pre-tokenizers other than ByteLevel and
/// Split (Isolated). Ignored: the post_processor (no BOS/EOS is added) and the lstrip/rstrip/single_word/
/// normalized flags of added tokens (matched exactly in raw text, as the Python reference does). Code
/// points are classified with .NET's Unicode tables, which can be a version newer than the reference's;
/// a Split regex that is not the GPT-2, Llama-3 or Qwen2 one runs on .NET Regex (UTF-16 code units).
/// </remarks>
public sealed class MeDlmTokenizer : Tokenizer
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
    private readonly BpeTokenizer _bpe;
    private readonly SplittingPreTokenizer _preTokenizer;
    private readonly FormsNormalizer? _normalizer;

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
        _vocab = def.Vocab;
        _vocabLookup = _vocab.GetAlternateLookup<ReadOnlySpan<char>>();
        _pieceLookup = _pieceCache.GetAlternateLookup<ReadOnlySpan<char>>();
        _addPrefixSpace = def.AddPrefixSpace;
        _ignoreMerges = def.IgnoreMerges;
        _normalizations = [.. def.Normalizations];
        _normalizer = _normalizations.Length > 0 ? new FormsNormalizer(_normalizations) : null;
        _preTokenizer = new SplittingPreTokenizer(this);

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
        _bpe = CreateBpe(def, sourcePath);
    }

    /// <summary>
    /// The Microsoft.ML.Tokenizers BPE model that does the merging (same vocabulary, merges, added tokens and
    /// split), for tests and benchmarks; its own EncodeToIds ignores ignore_merges, the normalizer and add_prefix_space.
    /// </summary>
    internal BpeTokenizer LibraryBpe => _bpe;

    /// <summary>Highest token id plus one (vocabulary and added tokens). Ids below it without a token decode to nothing.</summary>
    public int VocabSize { get; }

    /// <summary>The split this tokenizer does before BPE: added tokens cut out, then the split regexes (offsets into the raw text).</summary>
    public override PreTokenizer? PreTokenizer => _preTokenizer;

    /// <summary>The normalizer of tokenizer.json (NFC/NFD/NFKC/NFKD in sequence); null when it has none.</summary>
    public override Normalizer? Normalizer => _normalizer;

    /// <summary>Reads <paramref name="tokenizerJsonPath"/>; any problem throws <see cref="ModelLoadException"/> naming the file.</summary>
    public static MeDlmTokenizer Load(string tokenizerJsonPath)
    {
        ArgumentException.ThrowIfNullOrEmpty(tokenizerJsonPath);
        return new MeDlmTokenizer(TokenizerJson.Read(tokenizerJsonPath), tokenizerJsonPath);
    }

    /// <summary>Builds a tokenizer from tokenizer.json content; <paramref name="sourceName"/> names it in errors.</summary>
    public static MeDlmTokenizer FromJson(ReadOnlySpan<byte> utf8Json, string sourceName)
    {
        ArgumentException.ThrowIfNullOrEmpty(sourceName);
        return new MeDlmTokenizer(TokenizerJson.Parse(utf8Json, sourceName), sourceName);
    }

    /// <inheritdoc/>
    protected override EncodeResults<int> EncodeToIds(string? text, ReadOnlySpan<char> textSpan, EncodeSettings settings)
    {
        ReadOnlySpan<char> input = text is null ? textSpan : text.AsSpan();
        if (settings.MaxTokenCount <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(settings), settings.MaxTokenCount, "The maximum number of tokens must be greater than zero.");
        }

        if (settings.MaxTokenCount != int.MaxValue)
        {
            var trace = Trace(input, settings);
            int cut = trace.CutForward(settings.MaxTokenCount, out int consumed);
            var limited = new int[cut];
            for (int i = 0; i < cut; i++)
            {
                limited[i] = trace.Tokens[i].Id;
            }

            return new EncodeResults<int> { Tokens = limited, NormalizedText = trace.NormalizedText, CharsConsumed = consumed };
        }

        if (input.IsEmpty)
        {
            return new EncodeResults<int> { Tokens = [], NormalizedText = null, CharsConsumed = 0 };
        }

        var ids = new IntBuffer(input.Length / 3 + 8);
        try
        {
            bool changed = EncodeCore(input, settings.ConsiderNormalization, settings.ConsiderPreTokenization, ref ids, null);
            string? normalized = changed ? Trace(input, settings).NormalizedText : null;
            return new EncodeResults<int> { Tokens = ids.Span.ToArray(), NormalizedText = normalized, CharsConsumed = normalized?.Length ?? input.Length };
        }
        finally
        {
            ids.Dispose();
        }
    }

    /// <inheritdoc/>
    protected override EncodeResults<EncodedToken> EncodeToTokens(string? text, ReadOnlySpan<char> textSpan, EncodeSettings settings)
    {
        ReadOnlySpan<char> input = text is null ? textSpan : text.AsSpan();
        var trace = Trace(input, settings);
        int cut = trace.CutForward(settings.MaxTokenCount, out int consumed);
        var tokens = new List<EncodedToken>(cut);
        for (int i = 0; i < cut; i++)
        {
            var t = trace.Tokens[i];
            tokens.Add(new EncodedToken(t.Id, _tokenStrings[t.Id] ?? string.Empty, new Range(t.Start, t.End)));
        }

        return new EncodeResults<EncodedToken> { Tokens = tokens, NormalizedText = trace.NormalizedText, CharsConsumed = consumed };
    }

    /// <inheritdoc/>
    protected override int CountTokens(string? text, ReadOnlySpan<char> textSpan, EncodeSettings settings)
    {
        ReadOnlySpan<char> input = text is null ? textSpan : text.AsSpan();
        if (settings.MaxTokenCount != int.MaxValue)
        {
            return Trace(input, settings).CutForward(settings.MaxTokenCount, out _);
        }

        var ids = new IntBuffer(input.Length / 3 + 8);
        try
        {
            EncodeCore(input, settings.ConsiderNormalization, settings.ConsiderPreTokenization, ref ids, null);
            return ids.Count;
        }
        finally
        {
            ids.Dispose();
        }
    }

    /// <inheritdoc/>
    protected override int GetIndexByTokenCount(string? text, ReadOnlySpan<char> textSpan, EncodeSettings settings, bool fromEnd, out string? normalizedText, out int tokenCount)
    {
        ReadOnlySpan<char> input = text is null ? textSpan : text.AsSpan();
        if (settings.MaxTokenCount <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(settings), settings.MaxTokenCount, "The maximum number of tokens must be greater than zero.");
        }

        var trace = Trace(input, settings);
        normalizedText = trace.NormalizedText;
        if (!fromEnd)
        {
            tokenCount = trace.CutForward(settings.MaxTokenCount, out int consumed);
            return consumed;
        }

        return trace.CutFromEnd(settings.MaxTokenCount, out tokenCount);
    }

    /// <summary>
    /// Text of <paramref name="ids"/>, as <see cref="Decode(ReadOnlySpan{int}, bool)"/> without skipping.
    /// </summary>
    public override string Decode(IEnumerable<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        if (TryGetSpan(ids, out var span))
        {
            return Decode(span);
        }

        var buffer = new IntBuffer(16);
        try
        {
            foreach (int id in ids)
            {
                buffer.Add(id);
            }

            return Decode(buffer.Span);
        }
        finally
        {
            buffer.Dispose();
        }
    }

    /// <summary>
    /// Decodes into <paramref name="destination"/>: all of <paramref name="ids"/> when they fit, else the
    /// longest prefix of whole ids whose text fits (<see cref="OperationStatus.DestinationTooSmall"/>).
    /// </summary>
    public override OperationStatus Decode(IEnumerable<int> ids, Span<char> destination, out int idsConsumed, out int charsWritten)
    {
        ArgumentNullException.ThrowIfNull(ids);
        int[] copy = TryGetSpan(ids, out var span) ? [] : [.. ids];
        if (copy.Length > 0)
        {
            span = copy;
        }

        if (TryDecodeInto(span, destination, out charsWritten))
        {
            idsConsumed = span.Length;
            return OperationStatus.Done;
        }

        // The largest prefix that fits; text length grows with the prefix (one U+FFFD at most shrinks to a character).
        int lo = 0, hi = span.Length - 1;
        while (lo < hi)
        {
            int mid = (lo + hi + 1) / 2;
            if (TryDecodeInto(span[..mid], destination, out _))
            {
                lo = mid;
            }
            else
            {
                hi = mid - 1;
            }
        }

        TryDecodeInto(span[..lo], destination, out charsWritten);
        idsConsumed = lo;
        return OperationStatus.DestinationTooSmall;
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

    /// <summary>The token string of <paramref name="id"/> (byte-level spelling, or an added token's content); null when none.</summary>
    public string? GetToken(int id) => (uint)id < (uint)_tokenStrings.Length ? _tokenStrings[id] : null;

    /// <summary>Whether <paramref name="id"/> is an added token marked special (skipped by skipSpecialTokens).</summary>
    public bool IsSpecial(int id) => (uint)id < (uint)_isSpecial.Length && _isSpecial[id];

    /// <summary>Number of UTF-8 bytes the tokens of <paramref name="ids"/> stand for.</summary>
    internal int GetByteCount(ReadOnlySpan<int> ids, bool skipSpecialTokens = false)
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
    internal int WriteBytes(ReadOnlySpan<int> ids, Span<byte> destination, bool skipSpecialTokens = false)
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
    internal ReadOnlySpan<byte> GetTokenBytes(int id)
    {
        if ((uint)id >= (uint)_isSpecial.Length)
        {
            return [];
        }

        return _tokenBytes.AsSpan(_byteOffsets[id], _byteOffsets[id + 1] - _byteOffsets[id]);
    }

    /// <summary>
    /// The id of <paramref name="token"/>: the content of an added token, or a vocabulary entry in its
    /// byte-level spelling (a leading space is "Ġ").
    /// </summary>
    internal bool TryGetTokenId(string token, out int id)
    {
        ArgumentNullException.ThrowIfNull(token);
        return _addedByContent.TryGetValue(token, out id) || _vocab.TryGetValue(token, out id);
    }

    private static bool TryGetSpan(IEnumerable<int> ids, out ReadOnlySpan<int> span)
    {
        switch (ids)
        {
            case int[] a:
                span = a;
                return true;
            case List<int> l:
                span = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(l);
                return true;
            case ArraySegment<int> s:
                span = s;
                return true;
            default:
                span = default;
                return false;
        }
    }

    private bool TryDecodeInto(ReadOnlySpan<int> ids, Span<char> destination, out int charsWritten)
    {
        int n = GetByteCount(ids);
        byte[] rented = ArrayPool<byte>.Shared.Rent(Math.Max(n, 1));
        try
        {
            int written = WriteBytes(ids, rented);
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

    /// <summary>The ids with their offsets and the normalized text: the slow path behind offsets and token limits.</summary>
    private EncodingTrace Trace(ReadOnlySpan<char> input, EncodeSettings settings)
    {
        var trace = new EncodingTrace();
        var ids = new IntBuffer(input.Length / 3 + 8);
        try
        {
            bool changed = EncodeCore(input, settings.ConsiderNormalization, settings.ConsiderPreTokenization, ref ids, trace);
            trace.NormalizedText = changed ? trace.Text.ToString() : null;
            return trace;
        }
        finally
        {
            ids.Dispose();
        }
    }

    /// <summary>Encodes <paramref name="text"/>; returns whether normalization changed any of it.</summary>
    private bool EncodeCore(ReadOnlySpan<char> text, bool normalize, bool split, ref IntBuffer ids, EncodingTrace? trace)
    {
        Utf16Text.ThrowIfUnpairedSurrogate(text, nameof(text));
        if (!split)
        {
            return EncodeChunk(text, normalize, split, ref ids, trace);
        }

        bool changed = false;
        int pos = 0;
        while (pos < text.Length)
        {
            bool found = _matcher.TryFindNext(text, pos, out int start, out int length, out int id);
            if (start > pos)
            {
                changed |= EncodeChunk(text[pos..start], normalize, split, ref ids, trace);
            }

            if (!found)
            {
                break;
            }

            ids.Add(id);
            if (trace is not null)
            {
                int at = trace.Text.Length;
                trace.Text.Append(text.Slice(start, length));
                trace.Tokens.Add(new TracedToken(id, at, at + length, true));
            }

            pos = start + length;
        }

        return changed;
    }

    /// <summary>Text between added tokens: normalize, split into pieces, BPE each piece.</summary>
    private bool EncodeChunk(ReadOnlySpan<char> chunk, bool normalize, bool split, ref IntBuffer ids, EncodingTrace? trace)
    {
        bool changed = false;
        if (normalize && _normalizations.Length > 0 && !IsNormalized(chunk))
        {
            string original = chunk.ToString();
            string s = _normalizer!.Normalize(original);
            changed = !ReferenceEquals(s, original) && !string.Equals(s, original, StringComparison.Ordinal);
            chunk = s;
        }

        // Where the chunk starts in the normalized text; a prefix space is not part of that text.
        int textStart = trace?.Text.Length ?? 0;
        int chunkStart = textStart;
        trace?.Text.Append(chunk);
        char[]? prefixed = null;
        if (normalize && _addPrefixSpace && chunk.Length > 0 && chunk[0] != ' ')
        {
            prefixed = ArrayPool<char>.Shared.Rent(chunk.Length + 1);
            prefixed[0] = ' ';
            chunk.CopyTo(prefixed.AsSpan(1));
            chunk = prefixed.AsSpan(0, chunk.Length + 1);
            chunkStart--;
        }

        var pieces = new IntBuffer(32);
        try
        {
            if (split)
            {
                SplitChunk(chunk, ref pieces);
            }
            else
            {
                pieces.Add(0);
                pieces.Add(chunk.Length);
            }

            var p = pieces.Span;
            for (int i = 0; i < p.Length; i += 2)
            {
                var piece = chunk.Slice(p[i], p[i + 1]);
                int before = ids.Count;
                EncodePiece(piece, ref ids);
                if (trace is not null)
                {
                    TracePiece(piece, ids.Span[before..], chunkStart + p[i], textStart, trace);
                }
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

        return changed;
    }

    /// <summary>Whether every normalization form leaves <paramref name="chunk"/> as it is (ASCII always is), without a copy.</summary>
    private bool IsNormalized(ReadOnlySpan<char> chunk)
    {
        if (System.Text.Ascii.IsValid(chunk))
        {
            return true;
        }

        foreach (var form in _normalizations)
        {
            if (!chunk.IsNormalized(form))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Offsets of the tokens of one piece: byte positions mapped back to characters. A token ends on a
    /// boundary when its last byte ends a character.
    /// </summary>
    private void TracePiece(ReadOnlySpan<char> piece, ReadOnlySpan<int> pieceIds, int pieceStart, int floor, EncodingTrace trace)
    {
        int c = 0;
        int b = 0;
        int tokenEnd = 0;
        foreach (int id in pieceIds)
        {
            int tokenStart = tokenEnd;
            tokenEnd += _byteOffsets[id + 1] - _byteOffsets[id];

            // Skip the characters that end at or before the token's first byte.
            while (c < piece.Length && b + RuneAt(piece, c, out int chars) <= tokenStart)
            {
                b += RuneAt(piece, c, out _);
                c += chars;
            }

            int startChar = c;
            int c2 = c;
            int b2 = b;
            int endChar = c;
            bool boundary = false;
            while (c2 < piece.Length)
            {
                int bytes = RuneAt(piece, c2, out int chars);
                if (b2 + bytes >= tokenEnd)
                {
                    endChar = c2 + chars;
                    boundary = b2 + bytes == tokenEnd;
                    break;
                }

                b2 += bytes;
                c2 += chars;
            }

            trace.Tokens.Add(new TracedToken(id, Math.Max(pieceStart + startChar, floor), Math.Max(pieceStart + endChar, floor), boundary));
        }
    }

    /// <summary>UTF-8 length of the character at <paramref name="index"/>; <paramref name="chars"/> is its UTF-16 length.</summary>
    private static int RuneAt(ReadOnlySpan<char> text, int index, out int chars)
    {
        Rune.DecodeFromUtf16(text[index..], out Rune r, out chars);
        return r.Utf8SequenceLength;
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
            var list = _bpe.EncodeToIds(piece, considerPreTokenization: false, considerNormalization: false);
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
        var special = new Dictionary<string, int>(_addedByContent, StringComparer.Ordinal);
        try
        {
            return BpeTokenizer.Create(new BpeOptions(def.Vocab)
            {
                Merges = def.Merges,
                SpecialTokens = special,
                // Never left null: the library then falls back to a word/non-word regex that drops spaces.
                PreTokenizer = _preTokenizer,
                ByteLevel = true,
            });
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException or FormatException)
        {
            throw new ModelLoadException(sourcePath, $"Microsoft.ML.Tokenizers rejected the BPE model: {e.Message}", e);
        }
    }

    /// <summary>
    /// The same splitting as the encoder (added tokens, then the split regexes) in the shape
    /// Microsoft.ML.Tokenizers asks for (<see cref="PreTokenizer"/>, and the BPE model's own pre-tokenizer).
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

    /// <summary>The normalizer sequence of tokenizer.json (Unicode normalization forms, applied in order).</summary>
    private sealed class FormsNormalizer(NormalizationForm[] forms) : Normalizer
    {
        public override string Normalize(string original)
        {
            string s = original;
            foreach (var form in forms)
            {
                s = s.Normalize(form);
            }

            return s;
        }

        public override string Normalize(ReadOnlySpan<char> original) => Normalize(original.ToString());
    }
}

/// <summary>One encoded token with its place in the normalized text; Boundary: it ends on a character boundary.</summary>
internal readonly record struct TracedToken(int Id, int Start, int End, bool Boundary);

/// <summary>The tokens of one text with offsets, and where a token count limit may cut it.</summary>
internal sealed class EncodingTrace
{
    public List<TracedToken> Tokens { get; } = [];

    /// <summary>The text the offsets index: the input with each chunk between added tokens normalized.</summary>
    public StringBuilder Text { get; } = new();

    /// <summary>The normalized text when normalization changed the input, else null.</summary>
    public string? NormalizedText { get; set; }

    /// <summary>The most leading tokens, at most <paramref name="maxTokens"/>, that end on a character boundary; <paramref name="charsConsumed"/> is where they end.</summary>
    public int CutForward(int maxTokens, out int charsConsumed)
    {
        int n = Math.Min(maxTokens, Tokens.Count);
        while (n > 0 && !Tokens[n - 1].Boundary)
        {
            n--;
        }

        charsConsumed = n == 0 ? 0 : Tokens.Count == n ? Text.Length : Tokens[n - 1].End;
        return n;
    }

    /// <summary>
    /// Where the most trailing tokens, at most <paramref name="maxTokens"/>, start after a character boundary:
    /// returns that character index and sets <paramref name="tokenCount"/>.
    /// </summary>
    public int CutFromEnd(int maxTokens, out int tokenCount)
    {
        int first = Math.Max(0, Tokens.Count - maxTokens);
        while (first > 0 && first < Tokens.Count && !Tokens[first - 1].Boundary)
        {
            first++;
        }

        tokenCount = Tokens.Count - first;
        return first == 0 ? 0 : first == Tokens.Count ? Text.Length : Tokens[first - 1].End;
    }
}
