using System.Text;
using System.Text.Json;

namespace MeDlm.Tokenization;

/// <summary>One turn of a conversation: role "system", "user" or "assistant", and its text.</summary>
public sealed record ChatMessage(string Role, string Content)
{
    /// <summary>A system message.</summary>
    public static ChatMessage System(string content) => new("system", content);

    /// <summary>A user message.</summary>
    public static ChatMessage User(string content) => new("user", content);

    /// <summary>An assistant message.</summary>
    public static ChatMessage Assistant(string content) => new("assistant", content);
}

/// <summary>
/// Turns chat messages into prompt text with per-role templates from the model manifest, e.g.
/// <c>"user": "&lt;|im_start|&gt;user\n{content}&lt;|im_end|&gt;\n"</c>, plus the generation prompt that opens
/// the assistant turn. ChatML is the default for a manifest without one. The text is then encoded with
/// added tokens recognised, so "&lt;|im_start|&gt;" becomes its id where the tokenizer has one.
/// </summary>
public sealed class ChatTemplate
{
    /// <summary>Where a message's text goes in a role template.</summary>
    public const string ContentPlaceholder = "{content}";

    /// <summary>Creates a template; every role template must hold <see cref="ContentPlaceholder"/> exactly once.</summary>
    /// <param name="system">Template for system messages; null when the model has no system role.</param>
    /// <param name="user">Template for user messages.</param>
    /// <param name="assistant">Template for assistant messages (earlier turns).</param>
    /// <param name="generationPrompt">Text that opens the assistant turn to be generated.</param>
    /// <param name="bos">Text put once before everything (a BOS token string); empty for none.</param>
    /// <param name="trimContent">Trim whitespace around each message's text first (as Jinja's <c>| trim</c>).</param>
    public ChatTemplate(string? system, string user, string assistant, string generationPrompt, string bos = "", bool trimContent = false)
    {
        ArgumentNullException.ThrowIfNull(user);
        ArgumentNullException.ThrowIfNull(assistant);
        ArgumentNullException.ThrowIfNull(generationPrompt);
        ArgumentNullException.ThrowIfNull(bos);
        if (system is not null)
        {
            CheckRoleTemplate(system, "system");
        }

        CheckRoleTemplate(user, "user");
        CheckRoleTemplate(assistant, "assistant");
        if (generationPrompt.Contains(ContentPlaceholder, StringComparison.Ordinal))
        {
            throw new ArgumentException($"The generation prompt must not contain {ContentPlaceholder}.", nameof(generationPrompt));
        }

        System = system;
        User = user;
        Assistant = assistant;
        GenerationPrompt = generationPrompt;
        Bos = bos;
        TrimContent = trimContent;
    }

    /// <summary>ChatML: <c>&lt;|im_start|&gt;{role}\n{content}&lt;|im_end|&gt;\n</c> per turn, no BOS (the ME-DLM prompt format).</summary>
    public static ChatTemplate ChatML { get; } = new(
        "<|im_start|>system\n{content}<|im_end|>\n",
        "<|im_start|>user\n{content}<|im_end|>\n",
        "<|im_start|>assistant\n{content}<|im_end|>\n",
        "<|im_start|>assistant\n");

    /// <summary>System message template, or null when there is none.</summary>
    public string? System { get; }

    /// <summary>User message template.</summary>
    public string User { get; }

    /// <summary>Assistant message template.</summary>
    public string Assistant { get; }

    /// <summary>Text that opens the assistant turn to generate.</summary>
    public string GenerationPrompt { get; }

    /// <summary>Text put once at the very start (empty for none).</summary>
    public string Bos { get; }

    /// <summary>Whether message text is trimmed before it is inserted.</summary>
    public bool TrimContent { get; }

    /// <summary>
    /// Reads the manifest's <c>"chat_template"</c> object (<c>system</c>, <c>user</c>, <c>assistant</c>,
    /// <c>generation_prompt</c>, optional <c>bos</c> and <c>trim_content</c>). A missing or null value
    /// gives <see cref="ChatML"/>. Problems throw <see cref="ModelLoadException"/> naming <paramref name="manifestPath"/>.
    /// </summary>
    public static ChatTemplate FromManifest(JsonElement? chatTemplate, string manifestPath)
    {
        if (chatTemplate is not { } t || t.ValueKind is JsonValueKind.Undefined or JsonValueKind.Null)
        {
            return ChatML;
        }

        if (t.ValueKind != JsonValueKind.Object)
        {
            throw new ModelLoadException(manifestPath, $"chat_template must be an object, found {t.ValueKind}");
        }

        string? Get(string name, bool required)
        {
            if (!t.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
            {
                return required ? throw new ModelLoadException(manifestPath, $"chat_template.{name} is missing") : null;
            }

            return v.ValueKind == JsonValueKind.String
                ? v.GetString()
                : throw new ModelLoadException(manifestPath, $"chat_template.{name} must be a string");
        }

        bool trim = false;
        if (t.TryGetProperty("trim_content", out var tc) && tc.ValueKind != JsonValueKind.Null)
        {
            trim = tc.ValueKind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                _ => throw new ModelLoadException(manifestPath, "chat_template.trim_content must be true or false"),
            };
        }

        try
        {
            return new ChatTemplate(Get("system", false), Get("user", true)!, Get("assistant", true)!,
                Get("generation_prompt", true)!, Get("bos", false) ?? string.Empty, trim);
        }
        catch (ArgumentException e)
        {
            throw new ModelLoadException(manifestPath, $"chat_template: {e.Message}", e);
        }
    }

    /// <summary>
    /// Prompt text for <paramref name="messages"/> in order, followed by the generation prompt when
    /// <paramref name="addGenerationPrompt"/>. An unknown role throws <see cref="ArgumentException"/>.
    /// </summary>
    public string Apply(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt = true)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var sb = new StringBuilder(Bos, 256);
        for (int i = 0; i < messages.Count; i++)
        {
            var m = messages[i] ?? throw new ArgumentException($"Message {i} is null.", nameof(messages));
            if (m.Content is null)
            {
                throw new ArgumentException($"Message {i} has no content.", nameof(messages));
            }

            Utf16Text.ThrowIfUnpairedSurrogate(m.Content, nameof(messages), $"Message {i} ({m.Role})");

            string template = m.Role switch
            {
                "system" => System ?? throw new ArgumentException("This model's chat template has no system role.", nameof(messages)),
                "user" => User,
                "assistant" => Assistant,
                _ => throw new ArgumentException($"Message {i} has role \"{m.Role}\"; the roles are system, user and assistant.", nameof(messages)),
            };

            int at = template.IndexOf(ContentPlaceholder, StringComparison.Ordinal);
            sb.Append(template, 0, at);
            sb.Append(TrimContent ? m.Content.AsSpan().Trim() : m.Content.AsSpan());
            sb.Append(template, at + ContentPlaceholder.Length, template.Length - at - ContentPlaceholder.Length);
        }

        if (addGenerationPrompt)
        {
            sb.Append(GenerationPrompt);
        }

        return sb.ToString();
    }

    /// <summary>One user message followed by the generation prompt.</summary>
    public string ApplyPrompt(string userPrompt)
    {
        ArgumentNullException.ThrowIfNull(userPrompt);
        return Apply([ChatMessage.User(userPrompt)]);
    }

    private static void CheckRoleTemplate(string template, string role)
    {
        int first = template.IndexOf(ContentPlaceholder, StringComparison.Ordinal);
        if (first < 0 || template.IndexOf(ContentPlaceholder, first + 1, StringComparison.Ordinal) >= 0)
        {
            throw new ArgumentException($"The {role} template must contain {ContentPlaceholder} exactly once.", role);
        }
    }
}
