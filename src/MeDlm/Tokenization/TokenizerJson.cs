using System.Text;
using System.Text.Json;

namespace MeDlm.Tokenization;

/// <summary>An added token of tokenizer.json (matched in raw text before BPE).</summary>
internal readonly record struct AddedToken(string Content, int Id, bool Special);

/// <summary>What the runtime takes from a Hugging Face tokenizer.json (byte-level BPE only).</summary>
internal sealed class TokenizerDefinition
{
    public required Dictionary<string, int> Vocab { get; init; }

    /// <summary>Merges in rank order, each "left right" (the form Microsoft.ML.Tokenizers reads).</summary>
    public required List<string> Merges { get; init; }

    public required List<AddedToken> AddedTokens { get; init; }

    /// <summary>Split regexes applied in order (empty: the whole chunk is one piece).</summary>
    public required List<string> SplitPatterns { get; init; }

    public required List<NormalizationForm> Normalizations { get; init; }

    public bool AddPrefixSpace { get; init; }

    /// <summary>A piece that is itself in the vocabulary is one token without merging (Llama-3 files).</summary>
    public bool IgnoreMerges { get; init; }
}

/// <summary>
/// Reads tokenizer.json with System.Text.Json. Every problem becomes one <see cref="ModelLoadException"/>
/// that names the file and the JSON path at fault.
/// </summary>
internal static class TokenizerJson
{
    public static TokenizerDefinition Read(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new ModelLoadException(path, "tokenizer file not found", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
        {
            throw new ModelLoadException(path, $"tokenizer file cannot be read: {e.Message}", e);
        }

        return Parse(bytes, path);
    }

    public static TokenizerDefinition Parse(ReadOnlySpan<byte> utf8Json, string path)
    {
        JsonDocument doc;
        if (utf8Json.StartsWith("\uFEFF"u8))
        {
            utf8Json = utf8Json[3..];
        }

        try
        {
            var reader = new Utf8JsonReader(utf8Json, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            doc = JsonDocument.ParseValue(ref reader);
        }
        catch (JsonException e)
        {
            throw new ModelLoadException(path, $"not valid JSON: {e.Message}", e);
        }

        using (doc)
        {
            return Parse(doc.RootElement, path);
        }
    }

    private static TokenizerDefinition Parse(JsonElement root, string path)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw Fail(path, $"the top level must be a JSON object, found {root.ValueKind}");
        }

        if (!root.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.Object)
        {
            throw Fail(path, "\"model\" is missing or not an object");
        }

        string? type = OptionalString(model, "type", path, "model.type");
        if (type is not null && type != "BPE")
        {
            throw Fail(path, $"model.type is \"{type}\"; only byte-level BPE tokenizers are supported");
        }

        CheckModelOptions(model, path);
        var vocab = ReadVocab(model, path);
        var merges = ReadMerges(model, vocab, path);
        var added = ReadAddedTokens(root, path);
        var (patterns, addPrefixSpace) = ReadPreTokenizer(root, path);
        CheckDecoder(root, path);
        var normalizations = new List<NormalizationForm>();
        if (root.TryGetProperty("normalizer", out var normalizer))
        {
            ReadNormalizer(normalizer, normalizations, path, "normalizer");
        }

        CheckByteSymbols(vocab, path);
        return new TokenizerDefinition
        {
            Vocab = vocab,
            Merges = merges,
            AddedTokens = added,
            SplitPatterns = patterns,
            Normalizations = normalizations,
            AddPrefixSpace = addPrefixSpace,
            IgnoreMerges = OptionalBool(model, "ignore_merges", path, "model.ignore_merges") ?? false,
        };
    }

    private static void CheckModelOptions(JsonElement model, string path)
    {
        if (model.TryGetProperty("dropout", out var dropout) && dropout.ValueKind == JsonValueKind.Number && dropout.GetDouble() != 0)
        {
            throw Fail(path, "model.dropout is set; BPE dropout is a training option and is not supported");
        }

        foreach (var name in (ReadOnlySpan<string>)["continuing_subword_prefix", "end_of_word_suffix"])
        {
            if (!string.IsNullOrEmpty(OptionalString(model, name, path, "model." + name)))
            {
                throw Fail(path, $"model.{name} is set; only byte-level BPE without subword markers is supported");
            }
        }

        if (OptionalBool(model, "byte_fallback", path, "model.byte_fallback") == true)
        {
            throw Fail(path, "model.byte_fallback is true (a SentencePiece-style BPE); only byte-level BPE is supported");
        }
    }

    private static Dictionary<string, int> ReadVocab(JsonElement model, string path)
    {
        if (!model.TryGetProperty("vocab", out var v) || v.ValueKind != JsonValueKind.Object)
        {
            throw Fail(path, "model.vocab is missing or not an object");
        }

        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        var seenIds = new HashSet<int>();
        foreach (var p in v.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetInt32(out int id) || id < 0)
            {
                throw Fail(path, $"model.vocab[\"{p.Name}\"] must be a non-negative integer id");
            }

            if (!vocab.TryAdd(p.Name, id))
            {
                throw Fail(path, $"model.vocab lists \"{p.Name}\" twice");
            }

            if (!seenIds.Add(id))
            {
                throw Fail(path, $"model.vocab gives id {id} to more than one token (\"{p.Name}\" is one)");
            }
        }

        if (vocab.Count == 0)
        {
            throw Fail(path, "model.vocab is empty");
        }

        return vocab;
    }

    private static List<string> ReadMerges(JsonElement model, Dictionary<string, int> vocab, string path)
    {
        if (!model.TryGetProperty("merges", out var m) || m.ValueKind != JsonValueKind.Array)
        {
            throw Fail(path, "model.merges is missing or not an array");
        }

        var merges = new List<string>(m.GetArrayLength());
        var lookup = vocab.GetAlternateLookup<ReadOnlySpan<char>>();
        int index = 0;
        foreach (var item in m.EnumerateArray())
        {
            string merge;
            int space;
            if (item.ValueKind == JsonValueKind.String)
            {
                // Legacy form "a b": byte-level symbols never contain a space, so exactly one separates them.
                merge = item.GetString()!;
                space = merge.IndexOf(' ', StringComparison.Ordinal);
                if (space <= 0 || space == merge.Length - 1 || merge.IndexOf(' ', space + 1) >= 0)
                {
                    throw Fail(path, $"model.merges[{index}] \"{merge}\" is not two symbols separated by one space");
                }
            }
            else if (item.ValueKind == JsonValueKind.Array && item.GetArrayLength() == 2
                     && item[0].ValueKind == JsonValueKind.String && item[1].ValueKind == JsonValueKind.String)
            {
                string l = item[0].GetString()!;
                string r = item[1].GetString()!;
                if (l.Length == 0 || r.Length == 0 || l.Contains(' ', StringComparison.Ordinal) || r.Contains(' ', StringComparison.Ordinal))
                {
                    throw Fail(path, $"model.merges[{index}] [\"{l}\", \"{r}\"] has an empty symbol or one with a space, which byte-level BPE never has");
                }

                merge = string.Concat(l, " ", r);
                space = l.Length;
            }
            else
            {
                throw Fail(path, $"model.merges[{index}] must be a string \"a b\" or an array [\"a\", \"b\"], found {item.ValueKind}");
            }

            var left = merge.AsSpan(0, space);
            var right = merge.AsSpan(space + 1);
            if (!lookup.ContainsKey(left))
            {
                throw Fail(path, $"model.merges[{index}] names \"{left}\", which is not in model.vocab");
            }

            if (!lookup.ContainsKey(right))
            {
                throw Fail(path, $"model.merges[{index}] names \"{right}\", which is not in model.vocab");
            }

            if (!ContainsConcat(lookup, left, right))
            {
                throw Fail(path, $"model.merges[{index}] makes \"{left}{right}\", which is not in model.vocab");
            }

            merges.Add(merge);
            index++;
        }

        return merges;
    }

    /// <summary>Whether <paramref name="left"/> + <paramref name="right"/> is a vocabulary entry, without building the string.</summary>
    private static bool ContainsConcat(Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> lookup, ReadOnlySpan<char> left, ReadOnlySpan<char> right)
    {
        int n = left.Length + right.Length;
        char[]? rented = n > 256 ? System.Buffers.ArrayPool<char>.Shared.Rent(n) : null;
        Span<char> both = rented is null ? stackalloc char[256] : rented;
        left.CopyTo(both);
        right.CopyTo(both[left.Length..]);
        bool found = lookup.ContainsKey(both[..n]);
        if (rented is not null)
        {
            System.Buffers.ArrayPool<char>.Shared.Return(rented);
        }

        return found;
    }

    private static List<AddedToken> ReadAddedTokens(JsonElement root, string path)
    {
        var list = new List<AddedToken>();
        if (!root.TryGetProperty("added_tokens", out var a) || a.ValueKind == JsonValueKind.Null)
        {
            return list;
        }

        if (a.ValueKind != JsonValueKind.Array)
        {
            throw Fail(path, "added_tokens must be an array");
        }

        int index = 0;
        foreach (var t in a.EnumerateArray())
        {
            if (t.ValueKind != JsonValueKind.Object
                || !t.TryGetProperty("id", out var idElement) || !idElement.TryGetInt32(out int id) || id < 0
                || !t.TryGetProperty("content", out var c) || c.ValueKind != JsonValueKind.String || c.GetString()!.Length == 0)
            {
                throw Fail(path, $"added_tokens[{index}] needs a non-negative integer \"id\" and a non-empty string \"content\"");
            }

            bool special = OptionalBool(t, "special", path, $"added_tokens[{index}].special") ?? false;
            list.Add(new AddedToken(c.GetString()!, id, special));
            index++;
        }

        return list;
    }

    private static (List<string> Patterns, bool AddPrefixSpace) ReadPreTokenizer(JsonElement root, string path)
    {
        if (!root.TryGetProperty("pre_tokenizer", out var pre) || pre.ValueKind == JsonValueKind.Null)
        {
            throw Fail(path, "pre_tokenizer is missing; only byte-level BPE (a ByteLevel pre-tokenizer) is supported");
        }

        var steps = new List<JsonElement>();
        bool sequence = TypeOf(pre, path, "pre_tokenizer") == "Sequence";
        if (sequence)
        {
            if (!pre.TryGetProperty("pretokenizers", out var items) || items.ValueKind != JsonValueKind.Array)
            {
                throw Fail(path, "pre_tokenizer.pretokenizers is missing or not an array");
            }

            foreach (var item in items.EnumerateArray())
            {
                steps.Add(item);
            }
        }
        else
        {
            steps.Add(pre);
        }

        var patterns = new List<string>();
        bool addPrefixSpace = false;
        for (int i = 0; i < steps.Count; i++)
        {
            string where = sequence ? $"pre_tokenizer.pretokenizers[{i}]" : "pre_tokenizer";
            var step = steps[i];
            string type = TypeOf(step, path, where);
            switch (type)
            {
                case "ByteLevel":
                    // Byte mapping must come last: a split after it would see mapped symbols, not text.
                    if (i != steps.Count - 1)
                    {
                        throw Fail(path, $"{where}: ByteLevel must be the last pre-tokenizer of the sequence");
                    }

                    addPrefixSpace = OptionalBool(step, "add_prefix_space", path, where + ".add_prefix_space") ?? false;
                    if (OptionalBool(step, "use_regex", path, where + ".use_regex") ?? true)
                    {
                        patterns.Add(PieceScanner.Gpt2Pattern);
                    }

                    break;
                case "Split":
                    patterns.Add(ReadSplit(step, path, where));
                    break;
                default:
                    throw Fail(path, $"{where}: pre-tokenizer type \"{type}\" is not supported (ByteLevel, Split and Sequence are)");
            }
        }

        if (steps.Count == 0 || TypeOf(steps[^1], path, "pre_tokenizer") != "ByteLevel")
        {
            throw Fail(path, "pre_tokenizer has no ByteLevel step; only byte-level BPE tokenizers are supported");
        }

        return (patterns, addPrefixSpace);
    }

    private static string ReadSplit(JsonElement step, string path, string where)
    {
        string behavior = OptionalString(step, "behavior", path, where + ".behavior") ?? "Isolated";
        if (behavior != "Isolated")
        {
            throw Fail(path, $"{where}: Split behavior \"{behavior}\" is not supported (only Isolated)");
        }

        if (OptionalBool(step, "invert", path, where + ".invert") == true)
        {
            throw Fail(path, $"{where}: Split with invert = true is not supported");
        }

        if (!step.TryGetProperty("pattern", out var pattern) || pattern.ValueKind != JsonValueKind.Object)
        {
            throw Fail(path, $"{where}.pattern is missing or not an object");
        }

        string regex;
        if (pattern.TryGetProperty("Regex", out var r) && r.ValueKind == JsonValueKind.String)
        {
            regex = r.GetString()!;
        }
        else if (pattern.TryGetProperty("String", out var s) && s.ValueKind == JsonValueKind.String)
        {
            regex = System.Text.RegularExpressions.Regex.Escape(s.GetString()!);
        }
        else
        {
            throw Fail(path, $"{where}.pattern needs a \"Regex\" or \"String\" member");
        }

        try
        {
            _ = new System.Text.RegularExpressions.Regex(regex, System.Text.RegularExpressions.RegexOptions.CultureInvariant);
        }
        catch (ArgumentException e)
        {
            throw new ModelLoadException(path, $"{where}.pattern is not a regex .NET can run: {e.Message}", e);
        }

        return regex;
    }

    private static void CheckDecoder(JsonElement root, string path)
    {
        if (!root.TryGetProperty("decoder", out var d) || d.ValueKind == JsonValueKind.Null)
        {
            return;
        }

        string type = TypeOf(d, path, "decoder");
        if (type == "ByteLevel")
        {
            return;
        }

        if (type == "Sequence" && d.TryGetProperty("decoders", out var items) && items.ValueKind == JsonValueKind.Array)
        {
            int i = 0;
            foreach (var item in items.EnumerateArray())
            {
                string t = TypeOf(item, path, $"decoder.decoders[{i}]");
                if (t != "ByteLevel")
                {
                    throw Fail(path, $"decoder.decoders[{i}]: decoder type \"{t}\" is not supported (only ByteLevel)");
                }

                i++;
            }

            return;
        }

        throw Fail(path, $"decoder type \"{type}\" is not supported (only ByteLevel)");
    }

    private static void ReadNormalizer(JsonElement n, List<NormalizationForm> forms, string path, string where)
    {
        if (n.ValueKind == JsonValueKind.Null)
        {
            return;
        }

        string type = TypeOf(n, path, where);
        switch (type)
        {
            case "NFC": forms.Add(NormalizationForm.FormC); break;
            case "NFD": forms.Add(NormalizationForm.FormD); break;
            case "NFKC": forms.Add(NormalizationForm.FormKC); break;
            case "NFKD": forms.Add(NormalizationForm.FormKD); break;
            case "Sequence":
                if (!n.TryGetProperty("normalizers", out var items) || items.ValueKind != JsonValueKind.Array)
                {
                    throw Fail(path, $"{where}.normalizers is missing or not an array");
                }

                int i = 0;
                foreach (var item in items.EnumerateArray())
                {
                    ReadNormalizer(item, forms, path, $"{where}.normalizers[{i++}]");
                }

                break;
            default:
                throw Fail(path, $"{where}: normalizer type \"{type}\" is not supported (NFC, NFD, NFKC, NFKD and Sequence are)");
        }
    }

    private static void CheckByteSymbols(Dictionary<string, int> vocab, string path)
    {
        int missing = 0;
        string first = string.Empty;
        for (int b = 0; b < 256; b++)
        {
            if (!vocab.ContainsKey(ByteLevel.ByteToChar[b].ToString()))
            {
                if (missing++ == 0)
                {
                    first = $"0x{b:X2} (\"{ByteLevel.ByteToChar[b]}\")";
                }
            }
        }

        if (missing > 0)
        {
            throw Fail(path, $"model.vocab lacks {missing} of the 256 byte-level symbols, first {first}; this is not a byte-level BPE vocabulary");
        }
    }

    private static string TypeOf(JsonElement e, string path, string where)
    {
        if (e.ValueKind != JsonValueKind.Object || !e.TryGetProperty("type", out var t) || t.ValueKind != JsonValueKind.String)
        {
            throw Fail(path, $"{where} must be an object with a string \"type\"");
        }

        return t.GetString()!;
    }

    private static string? OptionalString(JsonElement e, string name, string path, string where)
    {
        if (!e.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return v.ValueKind == JsonValueKind.String ? v.GetString() : throw Fail(path, $"{where} must be a string");
    }

    private static bool? OptionalBool(JsonElement e, string name, string path, string where)
    {
        if (!e.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw Fail(path, $"{where} must be true or false"),
        };
    }

    private static ModelLoadException Fail(string path, string message) => new(path, message);
}
