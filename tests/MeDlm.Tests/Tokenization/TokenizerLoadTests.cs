using System.Text.Json.Nodes;
using MeDlm.Tokenization;

namespace MeDlm.Tests.Tokenization;

/// <summary>Broken tokenizer.json files each give one ModelLoadException naming the file; supported variants load.</summary>
public class TokenizerLoadTests
{
    [Fact]
    public void Missing_file_names_the_file()
    {
        string path = Path.Combine(Path.GetTempPath(), "medlm-no-such-dir", "tokenizer.json");
        var e = Assert.Throws<ModelLoadException>(() => MeDlmTokenizer.Load(path));
        Assert.Contains(path, e.Message, StringComparison.Ordinal);
        Assert.Contains("not found", e.Message, StringComparison.Ordinal);
        Assert.Equal(path, e.FilePath);
    }

    [Fact]
    public void Bad_json_names_the_file()
    {
        string path = TokenizerFiles.WriteTemp("bad-json.tokenizer.json", "{ \"model\": { \"type\": \"BPE\", ");
        var e = Assert.Throws<ModelLoadException>(() => MeDlmTokenizer.Load(path));
        Assert.Contains(path, e.Message, StringComparison.Ordinal);
        Assert.Contains("not valid JSON", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Wrong_model_type_names_the_file_and_the_type()
    {
        var j = TokenizerFiles.TinyJson();
        j["model"]!["type"] = "WordPiece";
        var e = Load(j, "wordpiece.tokenizer.json");
        Assert.Contains("model.type is \"WordPiece\"", e.Message, StringComparison.Ordinal);
    }

    public static TheoryData<string, string> Breakages() => new()
    {
        { "no-model", "\"model\" is missing" },
        { "no-vocab", "model.vocab is missing" },
        { "empty-vocab", "model.vocab is empty" },
        { "no-merges", "model.merges is missing" },
        { "merge-unknown-symbol", "names \"zzq\", which is not in model.vocab" },
        { "merge-three-parts", "is not two symbols separated by one space" },
        { "merge-result-unknown", "which is not in model.vocab" },
        { "merge-number", "must be a string \"a b\" or an array" },
        { "vocab-duplicate-id", "gives id 0 to more than one token" },
        { "vocab-negative-id", "must be a non-negative integer id" },
        { "no-pre-tokenizer", "pre_tokenizer is missing" },
        { "metaspace", "pre-tokenizer type \"Metaspace\" is not supported" },
        { "split-without-bytelevel", "has no ByteLevel step" },
        { "split-merged-behaviour", "Split behavior \"MergedWithPrevious\" is not supported" },
        { "bad-regex", "is not a regex .NET can run" },
        { "wordpiece-decoder", "decoder type \"WordPiece\" is not supported" },
        { "lowercase-normalizer", "normalizer type \"Lowercase\" is not supported" },
        { "byte-fallback", "model.byte_fallback is true" },
        { "missing-byte-symbol", "lacks 1 of the 256 byte-level symbols" },
        { "added-token-without-id", "added_tokens[0] needs a non-negative integer \"id\"" },
        { "top-level-array", "the top level must be a JSON object" },
    };

    [Theory]
    [MemberData(nameof(Breakages))]
    public void Each_problem_is_one_clear_error(string breakage, string expected)
    {
        JsonNode j = TokenizerFiles.TinyJson();
        var model = j["model"]!.AsObject();
        switch (breakage)
        {
            case "no-model": j.AsObject().Remove("model"); break;
            case "no-vocab": model.Remove("vocab"); break;
            case "empty-vocab": model["vocab"] = new JsonObject(); model["merges"] = new JsonArray(); break;
            case "no-merges": model.Remove("merges"); break;
            case "merge-unknown-symbol": model["merges"]!.AsArray().Add("zzq t"); break;
            case "merge-three-parts": model["merges"]!.AsArray().Add("a b c"); break;
            case "merge-result-unknown": model["merges"]!.AsArray().Add(new JsonArray("q", "q")); break;
            case "merge-number": model["merges"]!.AsArray().Add(3); break;
            case "vocab-duplicate-id": model["vocab"]!["Ġzzzz"] = 0; break;
            case "vocab-negative-id": model["vocab"]!["Ġzzzz"] = -1; break;
            case "no-pre-tokenizer": j.AsObject().Remove("pre_tokenizer"); break;
            case "metaspace": j["pre_tokenizer"] = new JsonObject { ["type"] = "Metaspace" }; break;
            case "split-without-bytelevel":
                j["pre_tokenizer"] = Seq(Split("\\s+", "Isolated"));
                break;
            case "split-merged-behaviour":
                j["pre_tokenizer"] = Seq(Split("\\s+", "MergedWithPrevious"), ByteLevelNode(false));
                break;
            case "bad-regex":
                j["pre_tokenizer"] = Seq(Split("(unclosed", "Isolated"), ByteLevelNode(false));
                break;
            case "wordpiece-decoder": j["decoder"] = new JsonObject { ["type"] = "WordPiece" }; break;
            case "lowercase-normalizer": j["normalizer"] = new JsonObject { ["type"] = "Lowercase" }; break;
            case "byte-fallback": model["byte_fallback"] = true; break;
            case "missing-byte-symbol": RemoveByteSymbol(model); break;
            case "added-token-without-id": j["added_tokens"]![0]!.AsObject().Remove("id"); break;
            case "top-level-array": j = new JsonArray(1, 2); break;
            default: throw new ArgumentOutOfRangeException(nameof(breakage));
        }

        var e = Load(j, breakage + ".tokenizer.json");
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Array_merges_and_a_llama3_split_load()
    {
        var t = MeDlmTokenizer.Load(Path.Combine(TokenizerFiles.RepoRoot, "tests/golden/tokenizer/medlm-tiny-llama3-split.tokenizer.json"));
        Assert.Equal(593, t.VocabSize);
        Assert.Equal("total += x", t.Decode(t.EncodeToIds("total += x")));
    }

    [Fact]
    public void Ignore_merges_takes_a_whole_piece_from_the_vocabulary()
    {
        var j = TokenizerFiles.TinyJson();
        // A token that no merge sequence produces: only ignore_merges can select it.
        j["model"]!["vocab"]!["Ġxyzzy"] = 600;
        var plain = MeDlmTokenizer.Load(TokenizerFiles.WriteTemp("plain.tokenizer.json", j.ToJsonString()));
        j["model"]!["ignore_merges"] = true;
        var whole = MeDlmTokenizer.Load(TokenizerFiles.WriteTemp("ignore-merges.tokenizer.json", j.ToJsonString()));

        Assert.Equal([600], whole.EncodeToIds(" xyzzy"));
        Assert.True(plain.EncodeToIds(" xyzzy").Count > 1);
        Assert.Equal(plain.EncodeToIds(" total"), whole.EncodeToIds(" total"));
        Assert.Equal(" xyzzy", whole.Decode([600]));
        Assert.Equal(601, whole.VocabSize);
    }

    [Fact]
    public void Add_prefix_space_and_nfc_normalizer_apply_to_text_between_added_tokens()
    {
        var j = TokenizerFiles.TinyJson();
        j["pre_tokenizer"]!["add_prefix_space"] = true;
        j["normalizer"] = new JsonObject { ["type"] = "Sequence", ["normalizers"] = new JsonArray(new JsonObject { ["type"] = "NFC" }) };
        var t = MeDlmTokenizer.Load(TokenizerFiles.WriteTemp("prefix-nfc.tokenizer.json", j.ToJsonString()));
        var plain = TokenizerFiles.Load(TokenizerFiles.TinyGolden).Tokenizer;

        Assert.Equal(plain.EncodeToIds(" total"), t.EncodeToIds("total"));
        Assert.Equal(plain.EncodeToIds(" total"), t.EncodeToIds(" total"));
        Assert.Equal(plain.EncodeToIds(" caf\u00e9"), t.EncodeToIds("cafe\u0301"));
        int end = plain.EncodeToIds("<|im_end|>")[0];
        Assert.Equal([.. plain.EncodeToIds(" x"), end, .. plain.EncodeToIds(" y")], t.EncodeToIds("x<|im_end|>y"));
    }

    [Fact]
    public void An_unknown_split_regex_runs_on_dotnet_regex_with_isolated_gaps()
    {
        var j = TokenizerFiles.TinyJson();
        j["pre_tokenizer"] = Seq(Split("\\d", "Isolated"), ByteLevelNode(false));
        var t = MeDlmTokenizer.Load(TokenizerFiles.WriteTemp("digits.tokenizer.json", j.ToJsonString()));
        var pieces = new List<string>();
        const string text = "ab12 c";
        foreach (var (o, l) in t.PreTokenizer!.PreTokenize(text))
        {
            pieces.Add(text.Substring(o, l));
        }

        Assert.Equal(["ab", "1", "2", " c"], pieces);
        Assert.Equal(text, t.Decode(t.EncodeToIds(text)));
    }

    [Fact]
    public void From_json_names_the_source_in_errors()
    {
        var e = Assert.Throws<ModelLoadException>(() => MeDlmTokenizer.FromJson("[]"u8, "inline"));
        Assert.StartsWith("inline: ", e.Message, StringComparison.Ordinal);
    }

    private static ModelLoadException Load(JsonNode j, string fileName)
    {
        string path = TokenizerFiles.WriteTemp(fileName, j.ToJsonString());
        var e = Assert.Throws<ModelLoadException>(() => MeDlmTokenizer.Load(path));
        Assert.Contains(path, e.Message, StringComparison.Ordinal);
        Assert.Contains(fileName, e.Message, StringComparison.Ordinal);
        return e;
    }

    private static JsonObject Seq(params JsonNode[] steps) =>
        new() { ["type"] = "Sequence", ["pretokenizers"] = new JsonArray(steps) };

    private static JsonObject Split(string regex, string behavior) => new()
    {
        ["type"] = "Split",
        ["pattern"] = new JsonObject { ["Regex"] = regex },
        ["behavior"] = behavior,
        ["invert"] = false,
    };

    private static JsonObject ByteLevelNode(bool useRegex) => new()
    {
        ["type"] = "ByteLevel",
        ["add_prefix_space"] = false,
        ["trim_offsets"] = true,
        ["use_regex"] = useRegex,
    };

    private static void RemoveByteSymbol(JsonObject model)
    {
        // "þ" (byte 0xFE) is in no merge of the bundled vocabulary.
        var merges = model["merges"]!.AsArray();
        foreach (var m in merges)
        {
            Assert.DoesNotContain("þ", m!.GetValue<string>(), StringComparison.Ordinal);
        }

        Assert.True(model["vocab"]!.AsObject().Remove("þ"));
    }
}
