namespace MeDlm.Extensions.AI.Tests;

/// <summary>The adapter over the tiny Dream-layout package: TopP / TopK honoured, Dream settings passed through.</summary>
public sealed class DreamChatClientTests
{
    private const string Prompt = TinyDream.Prompt;

    private static string Folder => TinyDream.Folder;

    [Fact]
    public async Task Dream_sampling_options_give_the_generators_answer()
    {
        using var package = ModelPackage.Load(Folder);
        using var generator = new Generator(package);
        using var client = new MeDlmChatClient(generator);
        var options = new ChatOptions { Temperature = 0.7f, TopP = 0.9f, TopK = 12, Seed = 5, MaxOutputTokens = 32 };
        options.AdditionalProperties = new() { [MeDlmChatOptions.Algorithm] = "entropy", [MeDlmChatOptions.MaskSteps] = 8, [MeDlmChatOptions.AlgTemp] = 0.3 };
        ChatResponse response = await client.GetResponseAsync(Prompt, options);

        GenerationResult expected = TinyDream.SampledEntropyAnswer(package, generator, temperature: 0.7f, topP: 0.9f);
        Assert.Equal(8, expected.Stats.MaskPasses);
        Assert.Equal(expected.Text, response.Text);
    }

    [Fact]
    public async Task Settings_the_Dream_package_cannot_use_are_refused()
    {
        using var package = ModelPackage.Load(Folder);
        using var generator = new Generator(package);
        using var client = new MeDlmChatClient(generator);
        var edits = new ChatOptions { AdditionalProperties = new() { [MeDlmChatOptions.EditRounds] = 2 } };
        var e = await Assert.ThrowsAsync<GenerationRequestException>(() => client.GetResponseAsync(Prompt, edits));
        Assert.Contains("no edit head", e.Message, StringComparison.Ordinal);
        var llada = new ChatOptions { AdditionalProperties = new() { [MeDlmChatOptions.Algorithm] = "low_confidence" } };
        e = await Assert.ThrowsAsync<GenerationRequestException>(() => client.GetResponseAsync(Prompt, llada));
        Assert.Contains("Dream package", e.Message, StringComparison.Ordinal);
    }
}
