using System.Text.Json;
using MeDlm.Tokenization;

namespace MeDlm.Tests.Tokenization;

public class ChatTemplateTests
{
    private const string ManifestTemplate = """
        { "chat_template": {
            "system": "<|im_start|>system\n{content}<|im_end|>\n",
            "user": "<|im_start|>user\n{content}<|im_end|>\n",
            "assistant": "<|im_start|>assistant\n{content}<|im_end|>\n",
            "generation_prompt": "<|im_start|>assistant\n" } }
        """;

    [Fact]
    public void Apply_prompt_is_the_bundled_model_prompt_format()
    {
        // export/bundle.py CHAT_TEMPLATE.
        Assert.Equal("<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n", ChatTemplate.ChatML.ApplyPrompt("What is 2+2?"));
    }

    [Fact]
    public void Apply_joins_the_turns_in_order()
    {
        var messages = new[]
        {
            ChatMessage.System("Be brief."),
            ChatMessage.User("Hi {content}"),
            ChatMessage.Assistant("Hello."),
            new ChatMessage("user", "Sum 1..3?"),
        };
        const string turns = "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi {content}<|im_end|>\n"
            + "<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\nSum 1..3?<|im_end|>\n";
        Assert.Equal(turns + "<|im_start|>assistant\n", ChatTemplate.ChatML.Apply(messages));
        Assert.Equal(turns, ChatTemplate.ChatML.Apply(messages, addGenerationPrompt: false));
        Assert.Equal("<|im_start|>assistant\n", ChatTemplate.ChatML.Apply([]));
    }

    [Fact]
    public void Unknown_role_throws()
    {
        var e = Assert.Throws<ArgumentException>(() => ChatTemplate.ChatML.Apply([new ChatMessage("tool", "x")]));
        Assert.Contains("\"tool\"", e.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => ChatTemplate.ChatML.Apply([new ChatMessage("User", "x")]));
    }

    [Fact]
    public void From_manifest_reads_the_object_and_defaults_to_chatml()
    {
        using var doc = JsonDocument.Parse(ManifestTemplate);
        var t = ChatTemplate.FromManifest(doc.RootElement.GetProperty("chat_template"), "medlm.json");
        Assert.Equal(ChatTemplate.ChatML.ApplyPrompt("x"), t.ApplyPrompt("x"));
        Assert.Equal(ChatTemplate.ChatML.User, t.User);
        Assert.Same(ChatTemplate.ChatML, ChatTemplate.FromManifest(null, "medlm.json"));
        using var nullDoc = JsonDocument.Parse("null");
        Assert.Same(ChatTemplate.ChatML, ChatTemplate.FromManifest(nullDoc.RootElement, "medlm.json"));
    }

    [Theory]
    [InlineData("""{ "user": "{content}", "assistant": "{content}" }""", "chat_template.generation_prompt is missing")]
    [InlineData("""{ "user": "no placeholder", "assistant": "{content}", "generation_prompt": "" }""", "user template must contain {content} exactly once")]
    [InlineData("""{ "user": "{content}", "assistant": 3, "generation_prompt": "" }""", "chat_template.assistant must be a string")]
    [InlineData("""["a"]""", "chat_template must be an object")]
    public void Bad_manifest_templates_name_the_manifest(string json, string expected)
    {
        using var doc = JsonDocument.Parse(json);
        var e = Assert.Throws<ModelLoadException>(() => ChatTemplate.FromManifest(doc.RootElement, "/models/x/medlm.json"));
        Assert.StartsWith("/models/x/medlm.json: ", e.Message, StringComparison.Ordinal);
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Bos_and_trimming_follow_the_manifest()
    {
        using var doc = JsonDocument.Parse("""
            { "user": "<|im_start|>user\n{content}<|im_end|>\n", "assistant": "<|im_start|>assistant\n{content}<|im_end|>\n",
              "generation_prompt": "<|im_start|>assistant\n", "bos": "<|startoftext|>", "trim_content": true }
            """);
        var t = ChatTemplate.FromManifest(doc.RootElement, "medlm.json");
        Assert.Equal("<|startoftext|><|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n", t.ApplyPrompt("  hi \n"));
        Assert.Throws<ArgumentException>(() => t.Apply([ChatMessage.System("no system role")]));
    }

    [Fact]
    public void Chatml_prompt_encodes_special_tokens_as_single_ids()
    {
        var g = TokenizerFiles.Load(TokenizerFiles.TinyGolden);
        int[] ids = [.. g.Tokenizer.EncodeToIds(ChatTemplate.ChatML.ApplyPrompt("Write sum_gt."))];
        int start = g.SpecialTokens["<|im_start|>"];
        int end = g.SpecialTokens["<|im_end|>"];
        Assert.Equal(start, ids[0]);
        Assert.Equal(2, ids.Count(i => i == start));
        Assert.Equal(1, ids.Count(i => i == end));
        // Same ids as the golden case made from the same text by the Python reference.
        Assert.Equal(g.Cases["code_chatml"].Ids[..ids.Length], ids);
    }
}
