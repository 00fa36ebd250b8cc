using System.Buffers;
using System.Text;
using System.Text.Json;
using MeDlm.Tokenization;

namespace MeDlm.Tests.Tokenization;

/// <summary>
/// The C# tokenizer against export/tokenizer.py (tests/golden/tokenizer, made by export/golden_tokenizer.py):
/// the bundled GPT-2-split tokenizer and a Llama-3-split variant of it, named cases and 300 random strings each.
/// </summary>
public class GoldenTokenizerTests
{
    public static TheoryData<string, string> NamedCases()
    {
        var data = new TheoryData<string, string>();
        foreach (var file in (string[])[TokenizerFiles.TinyGolden, TokenizerFiles.Llama3Golden])
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(TokenizerFiles.RepoRoot, file)));
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

    public static TheoryData<string> Files() => new(TokenizerFiles.TinyGolden, TokenizerFiles.Llama3Golden);

    [Theory]
    [MemberData(nameof(NamedCases))]
    public void Encode_matches_the_python_reference(string file, string name)
    {
        var g = TokenizerFiles.Load(file);
        var c = g.Cases[name];
        GoldenAssert.Encodes(g.Tokenizer, c.Text, c.Ids);
    }

    [Theory]
    [MemberData(nameof(NamedCases))]
    public void Decode_matches_the_python_reference_and_round_trips(string file, string name)
    {
        var g = TokenizerFiles.Load(file);
        var c = g.Cases[name];
        GoldenAssert.Decodes(g.Tokenizer, c.Ids, c.Decoded, c.DecodedSkipSpecial);
        Assert.Equal(c.Text, g.Tokenizer.Decode(g.Tokenizer.EncodeToIds(c.Text)));

        var chars = new char[c.Decoded.Length];
        Assert.Equal(OperationStatus.Done, g.Tokenizer.Decode(c.Ids, chars, out int consumed, out int written));
        Assert.Equal(c.Ids.Length, consumed);
        Assert.Equal(c.Decoded, new string(chars, 0, written));
        Assert.Equal(Encoding.UTF8.GetByteCount(c.Decoded), g.Tokenizer.GetByteCount(c.Ids));
    }

    [Theory]
    [MemberData(nameof(NamedCases))]
    public void Pieces_and_the_library_bpe_path_match_the_reference(string file, string name)
    {
        var g = TokenizerFiles.Load(file);
        var c = g.Cases[name];
        Assert.Equal(c.Pieces, Pieces(g, c.Text));
        // The Microsoft.ML.Tokenizers model that does the merging gives the same ids on its own (no ignore_merges here).
        Assert.Equal(c.Ids, g.Tokenizer.LibraryBpe.EncodeToIds(c.Text));
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void Random_strings_match_the_reference(string file)
    {
        var g = TokenizerFiles.Load(file);
        var failures = new List<string>();
        int n = 0;
        foreach (var c in g.Cases.Values)
        {
            if (!c.Name.StartsWith("fuzz_", StringComparison.Ordinal))
            {
                continue;
            }

            n++;
            var pieces = Pieces(g, c.Text);
            int[] ids = [.. g.Tokenizer.EncodeToIds(c.Text)];
            if (!pieces.SequenceEqual(c.Pieces))
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

        Assert.Equal(300, n);
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public void Invalid_utf8_decodes_with_the_same_replacement_characters_as_python()
    {
        var g = TokenizerFiles.Load(TokenizerFiles.TinyGolden);
        Assert.NotEmpty(g.DecodeOnly);
        foreach (var (name, ids, decoded) in g.DecodeOnly)
        {
            Assert.True(decoded == g.Tokenizer.Decode(ids), name);

            // Streamed one byte token at a time, the replacement characters land in the same places.
            var stream = new StreamingDecoder(g.Tokenizer);
            var sb = new StringBuilder();
            foreach (int id in ids)
            {
                sb.Append(stream.Append(id));
            }

            sb.Append(stream.Flush());
            Assert.True(decoded == sb.ToString(), name + " (streamed)");
        }
    }

    [Fact]
    public void Vocab_size_and_special_tokens_match_the_reference()
    {
        var g = TokenizerFiles.Load(TokenizerFiles.TinyGolden);
        var t = g.Tokenizer;
        Assert.Equal(g.VocabSize, t.VocabSize);
        Assert.Equal(5, g.SpecialTokens.Count);
        foreach (var (content, id) in g.SpecialTokens)
        {
            Assert.True(t.TryGetSpecialTokenId(content, out int got));
            Assert.Equal(id, got);
            Assert.True(t.IsSpecial(id));
            Assert.Equal([id], t.EncodeToIds(content));
            Assert.Equal(content, t.Decode([id]));
            Assert.Equal(string.Empty, t.Decode([id], skipSpecialTokens: true));
        }

        Assert.False(t.TryGetSpecialTokenId("<|notatoken|>", out _));
        Assert.True(t.EncodeToIds("<|notatoken|>").Count > 1);
        Assert.False(t.IsSpecial(0));
        Assert.False(t.IsSpecial(-1));
        Assert.False(t.IsSpecial(t.VocabSize));
        Assert.True(t.TryGetTokenId("Ġ", out int space));
        Assert.Equal(" ", t.Decode([space]));
    }

    [Fact]
    public void Ids_without_a_token_decode_to_nothing()
    {
        var t = TokenizerFiles.Load(TokenizerFiles.TinyGolden).Tokenizer;
        int h = t.EncodeToIds("h")[0];
        Assert.Equal("hh", t.Decode([-5, h, t.VocabSize, 1 << 20, h]));
        Assert.Equal(0, t.GetTokenBytes(t.VocabSize).Length);
    }

    [Fact]
    public void Concurrent_encoding_gives_the_same_ids()
    {
        // Fresh instance: the piece cache and the library's cache both start empty and fill concurrently.
        var fresh = MeDlmTokenizer.Load(TokenizerFiles.TinyTokenizerPath);
        var g = TokenizerFiles.Load(TokenizerFiles.TinyGolden);
        var cases = g.Cases.Values.ToArray();
        Parallel.For(0, 8, w =>
        {
            for (int rep = 0; rep < 3; rep++)
            {
                for (int i = (w * 37) % cases.Length, k = 0; k < cases.Length; k++, i = (i + 1) % cases.Length)
                {
                    Assert.Equal(cases[i].Ids, fresh.EncodeToIds(cases[i].Text));
                }
            }
        });
    }

    private static string[] Pieces(Golden g, string text)
    {
        var list = new List<string>();
        foreach (var (offset, length) in g.Tokenizer.PreTokenizer!.PreTokenize(text))
        {
            list.Add(text.Substring(offset, length));
        }

        return [.. list];
    }
}
