using System.Globalization;
using System.Text.Json;
using System.Text.Unicode;
using MeDlm.Decoding;
using MeDlm.Tokenization;

namespace MeDlm.Server.Contracts;

/// <summary>
/// Reads OpenAI request bodies field by field, so that every malformed input gets a message naming the
/// field and what it must be (the serializer's own messages name CLR types). Unknown top-level fields
/// are ignored, as OpenAI clients send new ones over time; known fields this server cannot honour are
/// rejected when set to anything but their neutral value, rather than silently ignored.
/// </summary>
public static class RequestParser
{
    private static readonly JsonDocumentOptions DocumentOptions = new() { MaxDepth = 32 };

    /// <summary>Parses a <c>/v1/completions</c> body.</summary>
    public static CompletionRequestBody ParseCompletion(ReadOnlyMemory<byte> body, int maxStopSequences)
    {
        using JsonDocument doc = Parse(body);
        var r = new FieldReader(doc.RootElement);
        RejectUnsupported(r);
        r.RequireNeutral("best_of", v => v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int b) && b == 1, "best_of other than 1 is not supported");
        r.RequireNeutral("suffix", v => v.ValueKind == JsonValueKind.String && v.GetString()!.Length == 0, "suffix (insertion) is not supported");
        r.RequireNeutral("logprobs", v => v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int l) && l == 0, "logprobs are not supported");
        var completion = new CompletionRequestBody
        {
            Prompts = ReadPrompts(r),
            Echo = r.Bool("echo") ?? false,
        };
        return WithSharedFields(completion, r, maxTokens: null, maxStopSequences);
    }

    /// <summary>Parses a <c>/v1/chat/completions</c> body.</summary>
    public static ChatCompletionRequestBody ParseChat(ReadOnlyMemory<byte> body, int maxStopSequences)
    {
        using JsonDocument doc = Parse(body);
        var r = new FieldReader(doc.RootElement);
        RejectUnsupported(r);
        r.RequireNeutral("logprobs", v => v.ValueKind == JsonValueKind.False, "logprobs are not supported");
        r.RequireNeutral("top_logprobs", v => v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int t) && t == 0, "top_logprobs are not supported");
        r.RequireNeutral("tools", v => v.ValueKind == JsonValueKind.Array && v.GetArrayLength() == 0, "tools (function calling) are not supported");
        r.RequireNeutral("functions", v => v.ValueKind == JsonValueKind.Array && v.GetArrayLength() == 0, "functions (function calling) are not supported");
        r.RequireNeutral("tool_choice", v => v.ValueKind == JsonValueKind.String && v.GetString() is "none" or "auto", "tool_choice is not supported");
        r.RequireNeutral("response_format", IsTextFormat, "response_format other than {\"type\": \"text\"} is not supported");
        int? maxTokens = r.Int("max_tokens");
        int? maxCompletionTokens = r.Int("max_completion_tokens");
        if (maxTokens is not null && maxCompletionTokens is not null && maxTokens != maxCompletionTokens)
        {
            throw ApiException.Invalid("max_completion_tokens", "max_tokens and max_completion_tokens disagree; send one of them");
        }
        var chat = new ChatCompletionRequestBody { Messages = ReadMessages(r) };
        return WithSharedFields(chat, r, maxCompletionTokens ?? maxTokens, maxStopSequences);
    }

    /// <summary>
    /// The fields both endpoints share, read after the endpoint's own (errors come in that order).
    /// <paramref name="maxTokens"/> is the chat endpoint's reconciled value; null reads <c>max_tokens</c>.
    /// </summary>
    private static T WithSharedFields<T>(T body, FieldReader r, int? maxTokens, int maxStopSequences)
        where T : GenerationRequestBody =>
        (T)((GenerationRequestBody)body with
        {
            Model = r.String("model"),
            MaxTokens = maxTokens ?? r.Int("max_tokens"),
            Temperature = ReadTemperature(r),
            TopP = ReadTopP(r),
            Seed = r.Long("seed"),
            Stop = ReadStop(r, maxStopSequences),
            Stream = r.Bool("stream") ?? false,
            IncludeUsage = ReadIncludeUsage(r),
            Medlm = ReadMedlm(r),
        });

    private static JsonDocument Parse(ReadOnlyMemory<byte> body)
    {
        if (body.IsEmpty)
        {
            throw new ApiException(400, "The request body is empty; send a JSON object.", null, "invalid_json");
        }
        // Checked up front: the JSON reader would only notice bad UTF-8 inside strings it decodes.
        if (!Utf8.IsValid(body.Span))
        {
            throw new ApiException(400, "The request body is not valid UTF-8.", null, "invalid_encoding");
        }
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(body, DocumentOptions);
        }
        catch (JsonException e)
        {
            throw new ApiException(400, $"The request body is not valid JSON: {TrimJsonMessage(e.Message)}", null, "invalid_json");
        }
        if (doc.RootElement.ValueKind != JsonValueKind.Object)
        {
            string kind = Describe(doc.RootElement);
            doc.Dispose();
            throw new ApiException(400, $"The request body must be a JSON object, got {kind}.", null, "invalid_json");
        }
        if (FindUnpairedSurrogate(doc.RootElement) is { } at)
        {
            doc.Dispose();
            const string what = "an unpaired UTF-16 surrogate escape (such as \\ud800 without its pair); JSON text must be valid Unicode.";
            throw new ApiException(400,
                at.InName ? $"A field name in {(at.Path.Length == 0 ? "the request body" : at.Path)} holds {what}" : $"{at.Path} holds {what}",
                at.Path.Length == 0 ? null : at.Path, "invalid_encoding");
        }
        return doc;
    }

    private readonly record struct SurrogateAt(string Path, bool InName);

    /// <summary>
    /// Where a string or field name escapes half a surrogate pair (valid JSON, valid UTF-8, but no text:
    /// decoding it throws, and the tokenizer could only encode a replacement character). The whole body
    /// is checked up front, ignored fields included, so every field reader after this may decode freely.
    /// The path names the string (messages[0].content), or the object whose field name is at fault.
    /// </summary>
    private static SurrogateAt? FindUnpairedSurrogate(JsonElement e)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.String:
                return Decodes(e) ? null : new SurrogateAt("", false);
            case JsonValueKind.Array:
                int i = 0;
                foreach (JsonElement item in e.EnumerateArray())
                {
                    if (FindUnpairedSurrogate(item) is { } inner)
                    {
                        return inner with { Path = Join($"[{i}]", inner.Path) };
                    }
                    i++;
                }
                return null;
            case JsonValueKind.Object:
                foreach (JsonProperty p in e.EnumerateObject())
                {
                    string name;
                    try
                    {
                        name = p.Name;
                    }
                    catch (InvalidOperationException)
                    {
                        return new SurrogateAt("", true);
                    }
                    if (FindUnpairedSurrogate(p.Value) is { } inner)
                    {
                        return inner with { Path = Join(name, inner.Path) };
                    }
                }
                return null;
            default:
                return null;
        }
    }

    private static string Join(string outer, string inner) =>
        inner.Length == 0 || inner[0] == '[' ? outer + inner : outer + "." + inner;

    // Only strings with an escape can hold an unpaired surrogate (raw surrogate bytes fail the UTF-8 check).
    private static bool Decodes(JsonElement s)
    {
        if (System.Runtime.InteropServices.JsonMarshal.GetRawUtf8Value(s).IndexOf((byte)'\\') < 0)
        {
            return true;
        }
        try
        {
            s.GetString();
            return true;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    // System.Text.Json appends reader positions the client does not need twice.
    private static string TrimJsonMessage(string message)
    {
        int cut = message.IndexOf(" LineNumber:", StringComparison.Ordinal);
        return (cut > 0 ? message[..cut] : message).TrimEnd(' ', '|', '.') + ".";
    }

    private static void RejectUnsupported(FieldReader r)
    {
        r.RequireNeutral("n", v => v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int n) && n == 1, "n other than 1 is not supported; send one request per choice");
        r.RequireNeutral("presence_penalty", IsZero, "presence_penalty is not supported; leave it out or send 0");
        r.RequireNeutral("frequency_penalty", IsZero, "frequency_penalty is not supported; leave it out or send 0");
        r.RequireNeutral("logit_bias", v => v.ValueKind == JsonValueKind.Object && !v.EnumerateObject().Any(), "logit_bias is not supported");
        r.String("user");
    }

    private static bool IsZero(JsonElement v) => v.ValueKind == JsonValueKind.Number && v.GetDouble() == 0.0;

    private static bool IsTextFormat(JsonElement v) =>
        v.ValueKind == JsonValueKind.Object && v.TryGetProperty("type", out JsonElement t) && t.ValueKind == JsonValueKind.String && t.GetString() == "text";

    private static double? ReadTemperature(FieldReader r)
    {
        double? t = r.Double("temperature");
        if (t is < 0 or > 2)
        {
            throw ApiException.Invalid("temperature", $"temperature must be between 0 and 2, got {Format(t.Value)}");
        }
        return t;
    }

    // Range only: whether the model honours top_p (Dream packages) is the planner's question.
    private static double? ReadTopP(FieldReader r)
    {
        double? p = r.Double("top_p");
        if (p is { } v && !(v > 0 && v <= 1))
        {
            throw ApiException.Invalid("top_p", $"top_p must be in (0, 1], got {Format(v)}");
        }
        return p;
    }

    private static bool ReadIncludeUsage(FieldReader r)
    {
        JsonElement? o = r.Object("stream_options");
        return o is { } options && new FieldReader(options, "stream_options.").Bool("include_usage") == true;
    }

    private static List<string> ReadStop(FieldReader r, int maxStopSequences)
    {
        JsonElement? v = r.Raw("stop");
        if (v is not { } stop)
        {
            return [];
        }
        List<string> list = ReadStringOrStrings(stop, "stop", string.Empty);
        if (list.Count > maxStopSequences)
        {
            throw ApiException.Invalid("stop", $"stop has {list.Count} sequences; at most {maxStopSequences} are allowed");
        }
        if (list.Exists(s => s.Length == 0))
        {
            throw ApiException.Invalid("stop", "stop sequences must not be empty strings");
        }
        return list;
    }

    private static List<string> ReadPrompts(FieldReader r)
    {
        JsonElement prompt = r.Raw("prompt") ?? throw r.Missing("prompt");
        List<string> prompts = ReadStringOrStrings(prompt, "prompt", " (token-id prompts are not supported)");
        if (prompt.ValueKind == JsonValueKind.Array && prompts.Count == 0)
        {
            throw ApiException.Invalid("prompt", "prompt must not be an empty array");
        }
        return prompts;
    }

    /// <summary>OpenAI's "string or array of strings" fields (stop, prompt).</summary>
    private static List<string> ReadStringOrStrings(JsonElement value, string field, string itemNote)
    {
        var list = new List<string>();
        if (value.ValueKind == JsonValueKind.String)
        {
            list.Add(value.GetString()!);
        }
        else if (value.ValueKind == JsonValueKind.Array)
        {
            foreach (JsonElement item in value.EnumerateArray())
            {
                if (item.ValueKind != JsonValueKind.String)
                {
                    throw ApiException.Invalid(field, $"{field} must be a string or an array of strings{itemNote}; an item is {Describe(item)}", "invalid_type");
                }
                list.Add(item.GetString()!);
            }
        }
        else
        {
            throw ApiException.Invalid(field, $"{field} must be a string or an array of strings, got {Describe(value)}", "invalid_type");
        }
        return list;
    }

    private static List<ChatMessage> ReadMessages(FieldReader r)
    {
        JsonElement messages = r.Raw("messages") ?? throw r.Missing("messages");
        if (messages.ValueKind != JsonValueKind.Array)
        {
            throw ApiException.Invalid("messages", $"messages must be an array of messages, got {Describe(messages)}", "invalid_type");
        }
        var list = new List<ChatMessage>(messages.GetArrayLength());
        foreach ((string at, JsonElement m, FieldReader mr) in ObjectItems(messages, "messages", "an object with role and content"))
        {
            string role = mr.String("role") ?? throw mr.Missing("role");
            string normalized = role switch
            {
                "system" or "developer" => "system",
                "user" => "user",
                "assistant" => "assistant",
                _ => throw ApiException.Invalid(at + ".role", $"{at}.role \"{role}\" is not supported; use system, developer, user or assistant"),
            };
            if (m.TryGetProperty("tool_calls", out JsonElement calls) && calls.ValueKind == JsonValueKind.Array && calls.GetArrayLength() > 0)
            {
                throw ApiException.Invalid(at + ".tool_calls", "tool calls are not supported");
            }
            list.Add(new ChatMessage(normalized, ReadContent(mr, at)));
        }
        if (list.Count == 0)
        {
            throw ApiException.Invalid("messages", "messages must hold at least one message");
        }
        return list;
    }

    private static string ReadContent(FieldReader mr, string at)
    {
        JsonElement content = mr.Raw("content") ?? throw mr.Missing("content");
        if (content.ValueKind == JsonValueKind.String)
        {
            return content.GetString()!;
        }
        if (content.ValueKind != JsonValueKind.Array)
        {
            throw ApiException.Invalid(at + ".content", $"{at}.content must be a string or an array of text parts, got {Describe(content)}", "invalid_type");
        }
        // Content parts: only text parts, joined as OpenAI joins them for text-only models.
        var text = new System.Text.StringBuilder();
        foreach ((string pat, _, FieldReader pr) in ObjectItems(content, at + ".content", "a content part object"))
        {
            string type = pr.String("type") ?? throw pr.Missing("type");
            if (type != "text")
            {
                throw ApiException.Invalid(pat + ".type", $"{pat}.type \"{type}\" is not supported; this model reads text only");
            }
            text.Append(pr.String("text") ?? throw pr.Missing("text"));
        }
        return text.ToString();
    }

    /// <summary>
    /// The items of the array <paramref name="array"/> at <paramref name="at"/>, each of which must be an
    /// object (<paramref name="mustBe"/> says what kind): its path (<c>messages[0]</c>), the item, and a reader
    /// whose errors name the fields under that path.
    /// </summary>
    private static IEnumerable<(string At, JsonElement Item, FieldReader Reader)> ObjectItems(JsonElement array, string at, string mustBe)
    {
        int i = 0;
        foreach (JsonElement item in array.EnumerateArray())
        {
            string itemAt = $"{at}[{i++}]";
            if (item.ValueKind != JsonValueKind.Object)
            {
                throw ApiException.Invalid(itemAt, $"{itemAt} must be {mustBe}, got {Describe(item)}", "invalid_type");
            }
            yield return (itemAt, item, new FieldReader(item, itemAt + "."));
        }
    }

    private static MedlmSettings ReadMedlm(FieldReader r)
    {
        if (r.Object("medlm") is not { } medlm)
        {
            return MedlmSettings.None;
        }
        var m = new FieldReader(medlm, "medlm.");
        string[] known = ["budget", "mask_steps", "edit_rounds", "algorithm", "block_length", "threshold", "edit_threshold", "switch_threshold", "top_k", "alg_temp", "eps", "stream_denoising"];
        foreach (JsonProperty p in medlm.EnumerateObject())
        {
            if (Array.IndexOf(known, p.Name) < 0)
            {
                throw ApiException.Invalid("medlm." + p.Name, $"medlm.{p.Name} is not a known setting; the settings are {string.Join(", ", known)}", "unknown_parameter");
            }
        }
        DecodingAlgorithm? algorithm = null;
        if (m.String("algorithm") is { } name)
        {
            algorithm = DecodingAlgorithms.TryParse(name, out DecodingAlgorithm a)
                ? a
                : throw ApiException.Invalid("medlm.algorithm", $"medlm.algorithm \"{name}\" is not one of {DecodingAlgorithms.NameList}");
        }
        (double? budget, bool autoBudget) = ReadBudget(m);
        return new MedlmSettings
        {
            Budget = budget,
            AutoBudget = autoBudget,
            MaskSteps = m.Int("mask_steps"),
            EditRounds = m.Int("edit_rounds"),
            Algorithm = algorithm,
            BlockLength = m.Int("block_length"),
            Threshold = m.Double("threshold"),
            EditThreshold = m.Double("edit_threshold"),
            SwitchThreshold = m.Double("switch_threshold"),
            TopK = m.Int("top_k"),
            AlgTemp = m.Double("alg_temp"),
            Eps = m.Double("eps"),
            StreamDenoising = m.Bool("stream_denoising") ?? false,
        };
    }

    // A budget is a number in (0, 1] or a string in the library's budget syntax ("1/8", "0.125", "12.5%", "auto").
    private static (double? Budget, bool Auto) ReadBudget(FieldReader m)
    {
        JsonElement? v = m.Raw("budget");
        if (v is not { } b)
        {
            return (null, false);
        }
        double value;
        if (b.ValueKind == JsonValueKind.Number)
        {
            value = b.GetDouble();
        }
        else if (b.ValueKind == JsonValueKind.String)
        {
            if (!Budget.TryParse(b.GetString(), out value, out bool auto, out string error))
            {
                throw ApiException.Invalid("medlm.budget", $"medlm.budget: {error}");
            }
            if (auto)
            {
                return (null, true);
            }
        }
        else
        {
            throw ApiException.Invalid("medlm.budget", $"medlm.budget must be a number in (0, 1] or a string such as \"1/8\" or \"auto\", got {Describe(b)}", "invalid_type");
        }
        if (!Budget.IsValid(value))
        {
            throw ApiException.Invalid("medlm.budget", $"medlm.budget must be in (0, 1], got {Format(value)}");
        }
        return (value, false);
    }

    internal static string Format(double d) => d.ToString("R", CultureInfo.InvariantCulture);

    internal static string Describe(JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.String => "a string",
        JsonValueKind.Number => $"the number {v.GetRawText()}",
        JsonValueKind.True or JsonValueKind.False => $"the boolean {v.GetRawText()}",
        JsonValueKind.Array => "an array",
        JsonValueKind.Object => "an object",
        JsonValueKind.Null => "null",
        _ => v.ValueKind.ToString(),
    };

    /// <summary>Typed optional fields of one JSON object; absent and null read as null.</summary>
    private readonly struct FieldReader(JsonElement obj, string prefix = "")
    {
        public JsonElement? Raw(string name) =>
            obj.TryGetProperty(name, out JsonElement v) && v.ValueKind != JsonValueKind.Null ? v : null;

        public string? String(string name) => Typed(name, JsonValueKind.String, "a string")?.GetString();

        public JsonElement? Object(string name) => Typed(name, JsonValueKind.Object, "an object");

        public bool? Bool(string name)
        {
            JsonElement? v = Raw(name);
            return v is not { } b ? null
                : b.ValueKind switch
                {
                    JsonValueKind.True => true,
                    JsonValueKind.False => false,
                    _ => throw Wrong(name, "true or false", b),
                };
        }

        public double? Double(string name)
        {
            if (Typed(name, JsonValueKind.Number, "a number") is not { } d)
            {
                return null;
            }
            double value = d.GetDouble();
            return double.IsFinite(value) ? value : throw ApiException.Invalid(prefix + name, $"{prefix}{name} must be a finite number, got {d.GetRawText()}");
        }

        public long? Long(string name)
        {
            if (Typed(name, JsonValueKind.Number, "an integer") is not { } l)
            {
                return null;
            }
            return l.TryGetInt64(out long value)
                ? value
                : throw ApiException.Invalid(prefix + name, $"{prefix}{name} must be an integer within 64 bits, got {l.GetRawText()}");
        }

        public int? Int(string name)
        {
            if (Typed(name, JsonValueKind.Number, "an integer") is not { } i)
            {
                return null;
            }
            if (i.TryGetInt32(out int value))
            {
                return value;
            }
            // 1.5 is not an integer; 1e30 is one but out of any range this server allows.
            bool integral = double.IsFinite(i.GetDouble()) && Math.Floor(i.GetDouble()) == i.GetDouble();
            throw ApiException.Invalid(prefix + name, integral
                ? $"{prefix}{name} is out of range, got {i.GetRawText()}"
                : $"{prefix}{name} must be an integer, got {i.GetRawText()}");
        }

        /// <summary>The error of a required field that is absent (or null).</summary>
        public ApiException Missing(string name) =>
            ApiException.Invalid(prefix + name, $"{prefix}{name} is required", "missing_required_parameter");

        /// <summary>Rejects a set field unless <paramref name="isNeutral"/> says its value asks for nothing.</summary>
        public void RequireNeutral(string name, Func<JsonElement, bool> isNeutral, string message)
        {
            if (Raw(name) is { } v && !isNeutral(v))
            {
                throw ApiException.Invalid(prefix + name, message, "unsupported_parameter");
            }
        }

        /// <summary>The field when set, if it is of <paramref name="kind"/>; else the error naming what it must be.</summary>
        private JsonElement? Typed(string name, JsonValueKind kind, string expected)
        {
            JsonElement? v = Raw(name);
            return v is not { } t ? null : t.ValueKind == kind ? t : throw Wrong(name, expected, t);
        }

        private ApiException Wrong(string name, string expected, JsonElement got) =>
            ApiException.Invalid(prefix + name, $"{prefix}{name} must be {expected}, got {Describe(got)}", "invalid_type");
    }
}
