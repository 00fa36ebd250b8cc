using System.Text;
using MeDlm.Tokenization;

namespace MeDlm.Tests.Tokenization;

public class StreamingDecoderTests
{
    private static MeDlmTokenizer Tiny => TokenizerFiles.Load(TokenizerFiles.TinyGolden).Tokenizer;

    [Theory]
    [InlineData("unicode_emoji")]
    [InlineData("unicode_cjk")]
    [InlineData("unicode_mixed")]
    [InlineData("supplementary_letters")]
    public void One_id_at_a_time_never_emits_half_a_character(string name)
    {
        var c = TokenizerFiles.Load(TokenizerFiles.TinyGolden).Cases[name];
        var stream = new StreamingDecoder(Tiny);
        var sb = new StringBuilder();
        int emptySteps = 0;
        foreach (int id in c.Ids)
        {
            string part = stream.Append(id);
            Assert.DoesNotContain('\uFFFD', part);
            if (part.Length > 0)
            {
                Assert.False(char.IsHighSurrogate(part[^1]), "a surrogate pair was split");
            }
            else
            {
                emptySteps++;
            }

            sb.Append(part);
        }

        sb.Append(stream.Flush());
        Assert.Equal(c.Decoded, sb.ToString());
        Assert.Equal(c.Text, sb.ToString());
        Assert.Equal(c.Ids.Length, stream.TokenCount);
        Assert.True(emptySteps > 0, "the case should contain multi-byte characters split over byte tokens");
    }

    [Fact]
    public void Every_golden_case_streams_to_its_full_decode()
    {
        var g = TokenizerFiles.Load(TokenizerFiles.TinyGolden);
        foreach (var c in g.Cases.Values)
        {
            foreach (bool skip in (bool[])[false, true])
            {
                var stream = new StreamingDecoder(g.Tokenizer, skip);
                var sb = new StringBuilder();
                foreach (int id in c.Ids)
                {
                    sb.Append(stream.Append(id));
                }

                sb.Append(stream.Flush());
                Assert.True((skip ? c.DecodedSkipSpecial : c.Decoded) == sb.ToString(), c.Name);
            }
        }
    }

    [Fact]
    public void Random_byte_tokens_in_random_chunks_equal_the_one_shot_decode()
    {
        // Byte tokens (ids of single bytes) make every kind of valid, truncated and invalid UTF-8.
        var t = Tiny;
        var byteIds = new int[256];
        for (int b = 0; b < 256; b++)
        {
            Assert.True(t.TryGetTokenId(ByteSymbol(b), out byteIds[b]));
        }

        var r = new Random(4242);
        byte[][] pool = [.. ((string[])["é", "中", "🙂", "👍🏽", "a", " ", "\n", "𝐀"]).Select(Encoding.UTF8.GetBytes)];
        for (int it = 0; it < 2000; it++)
        {
            var ids = new List<int>();
            int parts = r.Next(0, 10);
            for (int p = 0; p < parts; p++)
            {
                int kind = r.Next(10);
                if (kind < 6)
                {
                    foreach (byte b in pool[r.Next(pool.Length)])
                    {
                        ids.Add(byteIds[b]);
                    }
                }
                else if (kind < 8)
                {
                    ids.Add(byteIds[r.Next(0x80, 0x100)]); // stray continuation or lead byte
                }
                else
                {
                    var whole = pool[r.Next(pool.Length)];
                    for (int i = 0; i < r.Next(1, whole.Length + 1); i++)
                    {
                        ids.Add(byteIds[whole[i]]); // a truncated character
                    }
                }
            }

            var all = ids.ToArray();
            var stream = new StreamingDecoder(t);
            var sb = new StringBuilder();
            for (int i = 0; i < all.Length;)
            {
                int n = Math.Min(r.Next(1, 4), all.Length - i);
                sb.Append(stream.Append(all.AsSpan(i, n)));
                i += n;
            }

            sb.Append(stream.Flush());
            Assert.Equal(t.Decode(all), sb.ToString());
        }
    }

    [Fact]
    public void Half_a_character_is_held_back_until_flush()
    {
        var t = Tiny;
        int[] emoji = [.. t.EncodeToIds("🙂")];
        Assert.Equal(4, emoji.Length);
        var stream = new StreamingDecoder(t);
        Assert.Equal("", stream.Append(emoji.AsSpan(0, 2)));
        Assert.Equal("\uFFFD", stream.Flush());

        stream.Reset();
        Assert.Equal(0, stream.TokenCount);
        Assert.Equal("", stream.Append(emoji.AsSpan(0, 3)));
        Assert.Equal("🙂", stream.Append(emoji[3]));
        Assert.Equal("", stream.Flush());
    }

    [Fact]
    public void Appending_chars_allocates_nothing_once_warm()
    {
        var t = Tiny;
        int[] ids = [.. t.EncodeToIds("def f(x):\n    return x + 1  # 🙂 中文")];
        var stream = new StreamingDecoder(t);
        for (int i = 0; i < ids.Length; i++)
        {
            stream.AppendChars(ids.AsSpan(i, 1));
        }

        int chars = 0;
        long bytes = Allocations.SteadyState(() =>
        {
            stream.Reset();
            chars = 0;
            for (int i = 0; i < ids.Length; i++)
            {
                chars += stream.AppendChars(ids.AsSpan(i, 1)).Length;
            }
        });

        Assert.Equal(0, bytes);
        Assert.Equal(t.Decode(ids).Length, chars);
    }

    private static string ByteSymbol(int b)
    {
        // The GPT-2 byte table, written out independently of the runtime's.
        bool kept = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        if (kept)
        {
            return ((char)b).ToString();
        }

        int extra = 0;
        for (int x = 0; x < b; x++)
        {
            if (!((x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE && x <= 0xFF)))
            {
                extra++;
            }
        }

        return ((char)(256 + extra)).ToString();
    }
}

public class CanvasDecoderTests
{
    private static MeDlmTokenizer Tiny => TokenizerFiles.Load(TokenizerFiles.TinyGolden).Tokenizer;

    [Fact]
    public void Decodes_each_step_like_the_tokenizer_and_reports_the_first_change()
    {
        var t = Tiny;
        Assert.True(t.TryGetSpecialTokenId("<|mdm_mask|>", out int mask));
        int[] answer = [.. t.EncodeToIds("total = 0\nfor x in xs: total += x 🙂")];
        var canvas = Enumerable.Repeat(mask, answer.Length).ToArray();
        var d = new CanvasDecoder(t);
        var r = new Random(7);
        var order = Enumerable.Range(0, answer.Length).OrderBy(_ => r.Next()).ToArray();
        string previous = d.DecodeToString(canvas);
        Assert.Equal(0, d.FirstChangedChar);
        foreach (int pos in order)
        {
            canvas[pos] = answer[pos];
            var text = d.Decode(canvas);
            Assert.Equal(t.Decode(canvas), text.ToString());
            Assert.Equal(text.CommonPrefixLength(previous), d.FirstChangedChar);
            previous = text.ToString();
        }

        Assert.Equal("total = 0\nfor x in xs: total += x 🙂", previous);

        var masked = new CanvasDecoder(t, skipSpecialTokens: true);
        canvas[0] = mask;
        Assert.Equal(t.Decode(canvas, skipSpecialTokens: true), masked.DecodeToString(canvas));
    }

    [Fact]
    public void Decoding_a_canvas_allocates_nothing_once_warm()
    {
        var t = Tiny;
        int[] ids = [.. t.EncodeToIds(string.Concat(Enumerable.Repeat("for x in xs:\n    total += x  # 中文 🙂\n", 40)))];
        var d = new CanvasDecoder(t);
        d.Decode(ids);
        int total = 0;
        long bytes = Allocations.SteadyState(() =>
        {
            total = 0;
            for (int step = 0; step < 50; step++)
            {
                total += d.Decode(ids).Length;
            }
        });

        Assert.Equal(0, bytes);
        Assert.Equal(50 * t.Decode(ids).Length, total);
    }
}
