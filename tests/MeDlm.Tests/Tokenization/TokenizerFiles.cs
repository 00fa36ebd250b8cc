using System.Text.Json;
using System.Text.Json.Nodes;
using MeDlm.Tokenization;

namespace MeDlm.Tests.Tokenization;

/// <summary>Paths of the bundled tokenizer and the golden files, and the tokenizers loaded once.</summary>
internal static class TokenizerFiles
{
    public const string TinyGolden = "tests/golden/tokenizer/medlm-tiny.json";
    public const string Llama3Golden = "tests/golden/tokenizer/medlm-tiny-llama3-split.json";

    private static readonly Lazy<string> Root = new(FindRoot);
    private static readonly Dictionary<string, Golden> Goldens = [];
    private static readonly Lock Gate = new();

    public static string RepoRoot => Root.Value;

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

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "MeDlm.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("The repository root (MeDlm.sln) was not found above " + AppContext.BaseDirectory);
    }
}

/// <summary>One golden case written by export/golden_tokenizer.py.</summary>
internal sealed record GoldenCase(string Name, string Text, int[] Ids, string[] Pieces, string Decoded, string DecodedSkipSpecial);

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
                Strings(c.GetProperty("pieces")),
                c.GetProperty("decoded").GetString()!,
                c.GetProperty("decoded_skip_special").GetString()!);
            Cases[gc.Name] = gc;
        }

        foreach (var c in root.GetProperty("decode_only").EnumerateArray())
        {
            DecodeOnly.Add((c.GetProperty("name").GetString()!, Ints(c.GetProperty("ids")), c.GetProperty("decoded").GetString()!));
        }
    }

    public MeDlmTokenizer Tokenizer { get; }

    public int VocabSize { get; }

    public Dictionary<string, int> SpecialTokens { get; } = [];

    public Dictionary<string, GoldenCase> Cases { get; } = [];

    public List<(string Name, int[] Ids, string Decoded)> DecodeOnly { get; } = [];

    private static int[] Ints(JsonElement a)
    {
        var r = new int[a.GetArrayLength()];
        int i = 0;
        foreach (var e in a.EnumerateArray())
        {
            r[i++] = e.GetInt32();
        }

        return r;
    }

    private static string[] Strings(JsonElement a)
    {
        var r = new string[a.GetArrayLength()];
        int i = 0;
        foreach (var e in a.EnumerateArray())
        {
            r[i++] = e.GetString()!;
        }

        return r;
    }
}

/// <summary>The checks every golden tokenizer case gets, whichever reference wrote its ids.</summary>
internal static class GoldenAssert
{
    /// <summary>Encoding <paramref name="text"/> gives the golden ids, from a string and from a span, and counts them.</summary>
    public static void Encodes(MeDlmTokenizer tokenizer, string text, int[] ids)
    {
        Assert.Equal(ids, tokenizer.EncodeToIds(text));
        Assert.Equal(ids, tokenizer.EncodeToIds(text.AsSpan()));
        Assert.Equal(ids.Length, tokenizer.CountTokens(text));
    }

    /// <summary>Decoding the golden ids gives the reference's text, with and without special tokens.</summary>
    public static void Decodes(MeDlmTokenizer tokenizer, int[] ids, string decoded, string decodedSkipSpecial)
    {
        Assert.Equal(decoded, tokenizer.Decode(ids));
        Assert.Equal(decodedSkipSpecial, tokenizer.Decode(ids, skipSpecialTokens: true));
    }
}
