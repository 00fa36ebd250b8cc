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

    /// <summary>Where the half pair sits (a message, the instructions, a stop sequence), plain and streaming.</summary>
    public static TheoryData<string, bool> Places()
    {
        var data = new TheoryData<string, bool>();
        foreach (string place in (string[])["message", "instructions", "stop sequence"])
        {
            data.Add(place, false);
            data.Add(place, true);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Places))]
    public async Task A_half_pair_is_refused_naming_where_it_is(string place, bool streaming)
    {
        // A message names its index counted in the caller's list. A stop sequence with half a pair could never
        // match (answers are decoded from UTF-8, so they never hold one): it would silently never fire.
        (AiChatMessage[] messages, ChatOptions options, string param, string message) = place switch
        {
            "message" => ((AiChatMessage[])[new(ChatRole.User, "hi"), new(ChatRole.Assistant, "ok \ud800"), new(ChatRole.User, "go")],
                new ChatOptions { Instructions = "be brief" }, "messages", "Message 1 holds an unpaired UTF-16 surrogate (U+D800) at index 3"),
            "instructions" => ([new(ChatRole.User, "hi")], new ChatOptions { Instructions = "\udc00 brief" }, "options",
                "Instructions holds an unpaired UTF-16 surrogate (U+DC00) at index 0"),
            _ => ([new(ChatRole.User, "hi")], new ChatOptions { StopSequences = ["\n", "x\ud83d"] }, "options",
                "StopSequences[1] holds an unpaired UTF-16 surrogate (U+D83D) at index 1"),
        };
        using var client = NewClient();
        var e = await ThrowsAsync(client, messages, options, streaming);
        Assert.Equal(param, e.ParamName);
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
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
