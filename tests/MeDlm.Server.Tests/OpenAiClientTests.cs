using System.ClientModel;
using OpenAI;
using OpenAI.Chat;
using OpenAI.Models;

namespace MeDlm.Server.Tests;

/// <summary>The official OpenAI .NET client, unmodified, pointed at the server.</summary>
[Collection(SharedServerCollection.Name)]
public sealed class OpenAiClientTests(SharedServer shared)
{
    private OpenAIClientOptions Options => new() { Endpoint = new Uri(shared.Server.BaseAddress, "v1") };

    private ChatClient Chat => new("medlm-tiny", new ApiKeyCredential("not-needed"), Options);

    private static ChatMessage[] Conversation => [new UserChatMessage("write min_k(vals) with k = 4")];

#pragma warning disable OPENAI001 // Seed is marked experimental by the client.
    private static ChatCompletionOptions Settings => new() { MaxOutputTokenCount = 48, Temperature = 0.7f, Seed = 4242 };
#pragma warning restore OPENAI001

    [Fact]
    public async Task Chat_completion_through_the_official_client()
    {
        ChatCompletion completion = (await Chat.CompleteChatAsync(Conversation, Settings)).Value;

        Assert.Equal(ChatMessageRole.Assistant, completion.Role);
        Assert.Equal("medlm-tiny", completion.Model);
        Assert.StartsWith("chatcmpl-", completion.Id);
        Assert.Contains(completion.FinishReason, new[] { ChatFinishReason.Stop, ChatFinishReason.Length });
        Assert.True(completion.Usage.InputTokenCount > 0);
        Assert.Equal(completion.Usage.InputTokenCount + completion.Usage.OutputTokenCount, completion.Usage.TotalTokenCount);
        Assert.InRange(completion.Usage.OutputTokenCount, 0, 48);

        // The same request over raw HTTP gives the same text: the client sends what we think it sends.
        string raw = JsonSerializer.Serialize(new
        {
            model = "medlm-tiny",
            messages = new object[] { new { role = "user", content = "write min_k(vals) with k = 4" } },
            max_completion_tokens = 48,
            temperature = 0.7,
            seed = 4242,
        });
        JsonElement viaHttp = await shared.Server.PostOkAsync("v1/chat/completions", raw);
        Assert.Equal(viaHttp.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString(), Text(completion));
    }

    [Fact]
    public async Task Streaming_through_the_official_client_concatenates_to_the_plain_answer()
    {
        ChatCompletion plain = (await Chat.CompleteChatAsync(Conversation, Settings)).Value;

        var streamed = new StringBuilder();
        ChatFinishReason? finish = null;
        ChatTokenUsage? usage = null;
        int updates = 0;
        await foreach (StreamingChatCompletionUpdate update in Chat.CompleteChatStreamingAsync(Conversation, Settings))
        {
            updates++;
            foreach (ChatMessageContentPart part in update.ContentUpdate)
            {
                streamed.Append(part.Text);
            }
            finish ??= update.FinishReason;
            usage ??= update.Usage;
        }

        Assert.True(updates >= 3);
        Assert.Equal(Text(plain), streamed.ToString());
        Assert.Equal(plain.FinishReason, finish);
        if (usage is not null)
        {
            Assert.Equal(plain.Usage.OutputTokenCount, usage.OutputTokenCount);
        }
    }

    [Fact]
    public async Task Stop_sequences_through_the_official_client()
    {
        ChatCompletion plain = (await Chat.CompleteChatAsync(Conversation, Settings)).Value;
        string text = Text(plain);
        Assert.True(text.Length >= 4, $"The answer is too short to cut: \"{text}\"");
        string stop = text.Substring(text.Length / 2, 1);
        ChatCompletionOptions withStop = Settings;
        withStop.StopSequences.Add(stop);

        ChatCompletion cut = (await Chat.CompleteChatAsync(Conversation, withStop)).Value;

        Assert.Equal(text[..text.IndexOf(stop, StringComparison.Ordinal)], Text(cut));
        Assert.Equal(ChatFinishReason.Stop, cut.FinishReason);
    }

    [Fact]
    public async Task Models_through_the_official_client()
    {
        var models = new OpenAIModelClient(new ApiKeyCredential("not-needed"), Options);
        OpenAIModelCollection list = (await models.GetModelsAsync()).Value;
        Assert.Equal("medlm-tiny", Assert.Single(list).Id);
    }

    private static string Text(ChatCompletion completion) => string.Concat(completion.Content.Select(p => p.Text));
}
