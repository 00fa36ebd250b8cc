using MeDlm.Generation;
using MeDlm.Tests.Generation;
using MeDlm.Tokenization;

namespace MeDlm.Tests.Tokenization;

/// <summary>
/// A .NET string can hold half a surrogate pair, which is no Unicode text: byte-level BPE would encode it
/// as the bytes of U+FFFD, a prompt the caller never wrote. Every way in refuses it with an
/// <see cref="ArgumentException"/> saying where it is; whole pairs are text like any other.
/// </summary>
public class UnpairedSurrogateTests
{
    // Passed to the theory by position: xunit writes theory arguments out as UTF-8, which would turn
    // a lone surrogate into U+FFFD before the test sees it.
    private static readonly (string Text, int Index)[] UnpairedCases =
    [
        ("\ud800", 0),
        ("ab\udc00cd", 2),
        ("\ud83d\ud83d\ude00", 0),
        ("\ude00\ud83d", 0),
        ("ok \ud83d", 3),
        ("\ud83d\ude00 then \udfff", 8),
        ("x\ud800<|im_end|>", 1),
        ("<|im_start|>\udbff", 12),
    ];

    public static TheoryData<int> Unpaired() => new(Enumerable.Range(0, UnpairedCases.Length));

    private static MeDlmTokenizer Tokenizer => TokenizerFiles.Load(TokenizerFiles.TinyGolden).Tokenizer;

    [Theory]
    [MemberData(nameof(Unpaired))]
    public void Every_encode_entry_refuses_an_unpaired_surrogate(int @case)
    {
        (string text, int index) = UnpairedCases[@case];
        Assert.Equal(-1, text.IndexOf('\uFFFD', StringComparison.Ordinal));
        MeDlmTokenizer tok = Tokenizer;
        string at = $"index {index}";
        AssertRefused(() => tok.EncodeToIds(text), at);
        AssertRefused(() => tok.EncodeToIds(text.AsSpan()), at);
        AssertRefused(() => tok.EncodeToTokens(text, out _), at);
        AssertRefused(() => tok.CountTokens(text), at);
        AssertRefused(() => tok.CountTokens(text.AsSpan()), at);
        AssertRefused(() => tok.GetIndexByTokenCount(text, 2, out _, out _), at);
    }

    [Fact]
    public void Whole_pairs_encode_and_round_trip()
    {
        MeDlmTokenizer tok = Tokenizer;
        foreach (string text in (string[])["\ud83d\ude00", "a\U0001F642b", "\U00010000\U0010FFFF", "<|im_start|>\ud83d\ude00<|im_end|>"])
        {
            int[] ids = [.. tok.EncodeToIds(text)];
            Assert.NotEmpty(ids);
            Assert.Equal(ids.Length, tok.CountTokens(text));
            Assert.Equal(text, tok.Decode(ids));
        }
    }

    [Fact]
    public void The_chat_template_names_the_message()
    {
        ChatTemplate template = ChatTemplate.ChatML;
        var e = Assert.Throws<ArgumentException>(() => template.Apply([ChatMessage.User("hi"), ChatMessage.System("be \ud800 brief")]));
        Assert.Equal("messages", e.ParamName);
        Assert.Contains("Message 1", e.Message, StringComparison.Ordinal);
        Assert.Contains("unpaired UTF-16 surrogate", e.Message, StringComparison.Ordinal);
        Assert.Contains("index 3", e.Message, StringComparison.Ordinal);

        var p = Assert.Throws<ArgumentException>(() => template.ApplyPrompt("\udc00"));
        Assert.Contains("unpaired UTF-16 surrogate", p.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_generator_refuses_it_in_a_prompt_or_a_message_before_running()
    {
        using var generator = new Generator(TestModels.TinyPackage);
        var prompt = Assert.Throws<GenerationRequestException>(() => generator.Plan(new GenerationRequest { Prompt = "tell me \ud800", GenLength = 8 }));
        Assert.Contains("unpaired UTF-16 surrogate", prompt.Message, StringComparison.Ordinal);
        var raw = Assert.Throws<GenerationRequestException>(() => generator.Plan(new GenerationRequest { Prompt = "\udc00", RawPrompt = true, GenLength = 8 }));
        Assert.Contains("unpaired UTF-16 surrogate", raw.Message, StringComparison.Ordinal);
        var system = Assert.Throws<GenerationRequestException>(() => generator.Plan(new GenerationRequest
        {
            Messages = [ChatMessage.System("\ud83d"), ChatMessage.User("hi")],
            GenLength = 8,
        }));
        Assert.Contains("Message 0", system.Message, StringComparison.Ordinal);
        Assert.Equal(nameof(GenerationRequest.Messages), system.Property);
        Assert.Equal(nameof(GenerationRequest.Prompt), prompt.Property);
    }

    private static void AssertRefused(Action encode, string at)
    {
        var e = Assert.Throws<ArgumentException>(encode);
        Assert.Equal("text", e.ParamName);
        Assert.Contains("unpaired UTF-16 surrogate", e.Message, StringComparison.Ordinal);
        Assert.Contains(at, e.Message, StringComparison.Ordinal);
    }
}
