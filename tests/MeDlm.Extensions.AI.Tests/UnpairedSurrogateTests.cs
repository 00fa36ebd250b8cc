using Microsoft.Extensions.AI;
using AiChatMessage = Microsoft.Extensions.AI.ChatMessage;

namespace MeDlm.Extensions.AI.Tests;

/// <summary>
/// Half a surrogate pair in anything the adapter sends to the model (a message, the instructions, a stop
/// sequence) is no text: an <see cref="ArgumentException"/> naming where it is, in both the plain and the
/// streaming call, before anything runs.
/// </summary>
public sealed class UnpairedSurrogateTests
{
    private static MeDlmChatClient NewClient() => new(BundledModel.Generator);

    public static TheoryData<bool> Streaming() => new(false, true);

    [Theory]
    [MemberData(nameof(Streaming))]
    public async Task A_message_names_its_index_counted_in_the_callers_list(bool streaming)
    {
        using var client = NewClient();
        AiChatMessage[] messages = [new(ChatRole.User, "hi"), new(ChatRole.Assistant, "ok \ud800"), new(ChatRole.User, "go")];
        var e = await ThrowsAsync(client, messages, new ChatOptions { Instructions = "be brief" }, streaming);
        Assert.Equal("messages", e.ParamName);
        Assert.Contains("Message 1 holds an unpaired UTF-16 surrogate (U+D800) at index 3", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Streaming))]
    public async Task The_instructions_are_named(bool streaming)
    {
        using var client = NewClient();
        var e = await ThrowsAsync(client, [new(ChatRole.User, "hi")], new ChatOptions { Instructions = "\udc00 brief" }, streaming);
        Assert.Equal("options", e.ParamName);
        Assert.Contains("Instructions holds an unpaired UTF-16 surrogate (U+DC00) at index 0", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Streaming))]
    public async Task A_stop_sequence_that_could_never_match_is_refused(bool streaming)
    {
        // Answers are decoded from UTF-8, so they never hold half a pair: such a stop would silently never fire.
        using var client = NewClient();
        var e = await ThrowsAsync(client, [new(ChatRole.User, "hi")], new ChatOptions { StopSequences = ["\n", "x\ud83d"] }, streaming);
        Assert.Equal("options", e.ParamName);
        Assert.Contains("StopSequences[1] holds an unpaired UTF-16 surrogate (U+D83D) at index 1", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Whole_pairs_are_text()
    {
        using var client = NewClient();
        ChatResponse response = await client.GetResponseAsync(
            [new(ChatRole.User, "\ud83d\ude00 hi")],
            new ChatOptions { Instructions = "\U0001F642", StopSequences = ["\ud83d\ude00"], MaxOutputTokens = 8 });
        Assert.NotNull(response.Usage);
        Assert.True(response.Usage.InputTokenCount > 0);
    }

    private static async Task<ArgumentException> ThrowsAsync(MeDlmChatClient client, AiChatMessage[] messages, ChatOptions options, bool streaming) =>
        streaming
            ? await Assert.ThrowsAsync<ArgumentException>(async () =>
            {
                await foreach (ChatResponseUpdate update in client.GetStreamingResponseAsync(messages, options))
                {
                    Assert.Fail("an update came: " + update.Text);
                }
            })
            : await Assert.ThrowsAsync<ArgumentException>(() => client.GetResponseAsync(messages, options));
}
