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
    public static TheoryData<string, string> NamedCases() => TokenizerFiles.NamedCases(TokenizerFiles.TinyGolden, TokenizerFiles.Llama3Golden);

    public static TheoryData<string> Files() => new(TokenizerFiles.TinyGolden, TokenizerFiles.Llama3Golden);

    [Theory]
    [MemberData(nameof(NamedCases))]
    public void Encode_matches_the_python_reference(string file, string name) => GoldenAssert.Encodes(TokenizerFiles.Load(file), name);

    [Theory]
    [MemberData(nameof(NamedCases))]
    public void Decode_matches_the_python_reference_and_round_trips(string file, string name)
    {
        var g = TokenizerFiles.Load(file);
        var c = GoldenAssert.Decodes(g, name);
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
        Assert.Equal(c.Pieces, GoldenAssert.Pieces(g, c.Text));
        // The Microsoft.ML.Tokenizers model that does the merging gives the same ids on its own (no ignore_merges here).
        Assert.Equal(c.Ids, g.Tokenizer.LibraryBpe.EncodeToIds(c.Text));
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void Random_strings_match_the_reference(string file) => GoldenAssert.RandomStringsMatch(TokenizerFiles.Load(file), 300);

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
        GoldenAssert.SpecialTokensMatch(g);

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
}
