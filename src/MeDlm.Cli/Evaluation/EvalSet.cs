using System.Text.Unicode;
using MeDlm.Tokenization;

namespace MeDlm.Cli.Evaluation;

/// <summary>Whether an item is scored by running code or by its final answer.</summary>
internal enum TaskKind
{
    Code,
    Math,
}

/// <summary>The formats <c>medlm eval</c> reads.</summary>
internal enum SetFormat
{
    /// <summary>The bundled model's held-out set (kind, prompt, entry_point + tests or answer).</summary>
    Heldout,
    HumanEval,
    Mbpp,
    Gsm8k,
    Math500,
}

/// <summary>
/// One task: the chat messages to send, and how to score a completion (a program to run for code, a
/// check for math).
/// </summary>
internal sealed class EvalItem(string id, TaskKind kind, IReadOnlyList<ChatMessage> messages, Func<string, string>? program,
    Func<string, bool>? check)
{
    public string Id { get; } = id;

    public TaskKind Kind { get; } = kind;

    public IReadOnlyList<ChatMessage> Messages { get; } = messages;

    /// <summary>The python program whose clean exit means the completion passed (code items).</summary>
    public string Program(string completion) => (program ?? throw new InvalidOperationException($"{Id} is not a code item"))(completion);

    /// <summary>Whether the completion's answer is right (math items).</summary>
    public bool Check(string completion) => (check ?? throw new InvalidOperationException($"{Id} is not a math item"))(completion);
}

/// <summary>Reads evaluation sets and builds their prompts as the ME-DLM evaluation does (shared/benchmarks/README.md).</summary>
internal static class EvalSet
{
    public const string MathSystem = "Please reason step by step, and put your final answer within \\boxed{}.";
    public const string CodeSystem = "You are an intelligent programming assistant to produce Python algorithmic solutions.";

    /// <summary>
    /// Reads up to <paramref name="limit"/> items (0: all) from a JSON-lines file, detecting its format
    /// from the first line. The file must be UTF-8 (a leading byte order mark and CRLF line ends are
    /// fine); every malformed line is a <see cref="CliException"/> naming the file, the line and the field.
    /// </summary>
    public static (SetFormat Format, List<EvalItem> Items) Load(string path, int limit)
    {
        if (!File.Exists(path))
        {
            throw new CliException($"{path}: evaluation set not found", ExitCodes.RuntimeError);
        }
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CliException($"{path}: cannot read the evaluation set ({e.Message})");
        }
        if (bytes.Length == 0)
        {
            throw new CliException($"{path}: the file is empty; an evaluation set holds one JSON object per line");
        }
        var items = new List<EvalItem>();
        SetFormat? format = null;
        int lineNo = 0;
        // Split on '\n' bytes: a JSON text never holds a raw newline, and each line is checked as UTF-8
        // on its own, so an error names the line it is on.
        int start = bytes.AsSpan().StartsWith(Utf8Bom) ? Utf8Bom.Length : 0;
        while (start < bytes.Length)
        {
            int newline = bytes.AsSpan(start).IndexOf((byte)'\n');
            int length = newline < 0 ? bytes.Length - start : newline;
            ReadOnlyMemory<byte> line = bytes.AsMemory(start, length);
            start += length + 1;
            lineNo++;
            if (line.Span.EndsWith((byte)'\r'))
            {
                line = line[..^1];
            }
            if (line.Span.Trim(" \t"u8).IsEmpty)
            {
                continue;
            }
            if (limit > 0 && items.Count >= limit)
            {
                break;
            }
            var at = new Row(path, lineNo, default);
            if (!Utf8.IsValid(line.Span))
            {
                throw at.Error("not valid UTF-8 (save the file as UTF-8)");
            }
            if (line.Span.StartsWith(Utf8Bom))
            {
                throw at.Error("starts with a byte order mark (U+FEFF); only the file's first line may (files joined together?)");
            }
            JsonDocument doc;
            try
            {
                doc = JsonDocument.Parse(line);
            }
            catch (JsonException e)
            {
                throw at.Error($"not valid JSON ({TrimJsonMessage(e.Message)})");
            }
            using (doc)
            {
                JsonElement o = doc.RootElement;
                if (o.ValueKind != JsonValueKind.Object)
                {
                    throw at.Error($"must be a JSON object, got {Describe(o)}");
                }
                foreach (JsonProperty field in o.EnumerateObject())
                {
                    try
                    {
                        _ = field.Name;
                    }
                    catch (InvalidOperationException)
                    {
                        throw at.Error("a field name holds an unpaired UTF-16 surrogate escape (such as \\ud800 without its pair)");
                    }
                }
                format ??= Detect(o) ?? throw at.Error("unknown format (expected the held-out set, HumanEval, MBPP, GSM8K or MATH-500 fields)");
                items.Add(Item(format.Value, new Row(path, lineNo, o)));
            }
        }
        if (format is null || items.Count == 0)
        {
            throw new CliException($"{path}: no items (the file holds only blank lines)");
        }
        return (format.Value, items);
    }

    private static ReadOnlySpan<byte> Utf8Bom => [0xEF, 0xBB, 0xBF];

    // System.Text.Json appends reader positions; on a one-line document only the byte position helps.
    private static string TrimJsonMessage(string message)
    {
        int cut = message.IndexOf(" LineNumber:", StringComparison.Ordinal);
        return (cut > 0 ? message[..cut] : message).TrimEnd(' ', '|', '.');
    }

    private static string Describe(JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True => "true",
        JsonValueKind.False => "false",
        JsonValueKind.Array => "an array",
        JsonValueKind.Object => "an object",
        _ => "null",
    };

    /// <summary>One line of the file: typed field reads whose errors name the file, the line and the field.</summary>
    private readonly struct Row(string path, int line, JsonElement o)
    {
        public CliException Error(string message) => new($"{path}: line {line}: {message}");

        /// <summary>A required string field.</summary>
        public string Text(string name) => AsText(Required(name), name);

        /// <summary>An optional string field (absent or null: empty).</summary>
        public string OptionalText(string name) =>
            o.TryGetProperty(name, out JsonElement v) && v.ValueKind != JsonValueKind.Null ? AsText(v, name) : string.Empty;

        /// <summary>An id: a string or a number, else "line N".</summary>
        public string Id(string name) =>
            !o.TryGetProperty(name, out JsonElement v) || v.ValueKind == JsonValueKind.Null ? $"line {line}"
            : v.ValueKind == JsonValueKind.Number ? v.GetRawText()
            : AsText(v, name);

        /// <summary>A reference answer written as a string or a number.</summary>
        public string Answer(string name)
        {
            JsonElement v = Required(name);
            return v.ValueKind == JsonValueKind.Number ? v.GetRawText()
                : v.ValueKind == JsonValueKind.String ? AsText(v, name)
                : throw Error($"field '{name}' must be a string or a number, got {Describe(v)}");
        }

        /// <summary>An integer answer, as a JSON integer or a string of one.</summary>
        public long Integer(string name)
        {
            JsonElement v = Required(name);
            if (v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out long n))
            {
                return n;
            }
            if (v.ValueKind == JsonValueKind.String && long.TryParse(AsText(v, name), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out n))
            {
                return n;
            }
            throw Error($"field '{name}' must be an integer (a JSON integer or a string of one), got {(v.ValueKind == JsonValueKind.String ? $"\"{AsText(v, name)}\"" : v.GetRawText())}");
        }

        /// <summary>A required array field.</summary>
        public JsonElement Array(string name)
        {
            JsonElement v = Required(name);
            return v.ValueKind == JsonValueKind.Array ? v : throw Error($"field '{name}' must be an array, got {Describe(v)}");
        }

        /// <summary>Every item of a required array of strings.</summary>
        public List<string> Texts(string name)
        {
            var list = new List<string>();
            foreach (JsonElement item in Array(name).EnumerateArray())
            {
                list.Add(AsText(item, $"{name}[{list.Count}]"));
            }
            return list;
        }

        private JsonElement Required(string name) =>
            o.TryGetProperty(name, out JsonElement v) ? v : throw Error($"field '{name}' is missing");

        private string AsText(JsonElement v, string name)
        {
            if (v.ValueKind != JsonValueKind.String)
            {
                throw Error($"field '{name}' must be a string, got {Describe(v)}");
            }
            try
            {
                return v.GetString()!;
            }
            catch (InvalidOperationException)
            {
                // An escape of half a surrogate pair (\ud800 alone) is valid JSON but no text.
                throw Error($"field '{name}' holds an unpaired UTF-16 surrogate escape (such as \\ud800 without its pair)");
            }
        }
    }

    /// <summary>The format a line's fields identify.</summary>
    public static SetFormat? Detect(JsonElement o)
    {
        if (o.ValueKind != JsonValueKind.Object)
        {
            return null;
        }
        bool Has(string name) => o.TryGetProperty(name, out _);
        if (Has("kind") && Has("prompt") && (Has("tests") || Has("answer")))
        {
            return SetFormat.Heldout;
        }
        if (Has("test_list"))
        {
            return SetFormat.Mbpp;
        }
        if (Has("entry_point") && Has("test") && Has("prompt"))
        {
            return SetFormat.HumanEval;
        }
        if (Has("question") && Has("answer"))
        {
            return SetFormat.Gsm8k;
        }
        if (Has("problem") && Has("answer"))
        {
            return SetFormat.Math500;
        }
        return null;
    }

    private static EvalItem Item(SetFormat format, Row r) => format switch
    {
        SetFormat.Heldout => Heldout(r),
        SetFormat.HumanEval => HumanEval(r),
        SetFormat.Mbpp => Mbpp(r),
        SetFormat.Gsm8k => Gsm8k(r),
        SetFormat.Math500 => Math500(r),
        _ => throw new ArgumentOutOfRangeException(nameof(format)),
    };

    /// <summary>
    /// The bundled set: the prompt as the only user message (the model was trained without a system
    /// message); code = the whole answer is the function, run on each test input (as corpus.check_code_batch).
    /// </summary>
    private static EvalItem Heldout(Row r)
    {
        string id = r.Id("id");
        string kind = r.Text("kind");
        ChatMessage[] messages = [ChatMessage.User(r.Text("prompt"))];
        if (kind == "code")
        {
            string entry = r.Text("entry_point");
            string tests = r.Array("tests").GetRawText();
            return new EvalItem(id, TaskKind.Code, messages, completion => HeldoutProgram(completion, entry, tests), null);
        }
        if (kind == "math")
        {
            long answer = r.Integer("answer");
            return new EvalItem(id, TaskKind.Math, messages, null, completion => MathAnswers.CheckHeldout(completion, answer));
        }
        throw r.Error($"field 'kind' is \"{kind}\"; it must be \"code\" or \"math\"");
    }

    /// <summary>
    /// corpus.check_code_batch as a program: exec the answer, then <c>f(list(inp)) == exp</c> for every test.
    /// The tests travel as a JSON string literal (which is also a valid Python string literal).
    /// </summary>
    public static string HeldoutProgram(string completion, string entryPoint, string testsJson)
    {
        var sb = new StringBuilder();
        sb.Append("__answer = ").Append(Literal(completion)).Append('\n');
        sb.Append("__tests = __import__('json').loads(").Append(Literal(testsJson)).Append(")\n");
        sb.Append("__env = {}\n");
        sb.Append("exec(compile(__answer, '<answer>', 'exec'), __env)\n");
        sb.Append("__f = __env[").Append(Literal(entryPoint)).Append("]\n");
        sb.Append("if not all(__f(list(inp)) == exp for inp, exp in __tests):\n    raise AssertionError('wrong answer')\n");
        return sb.ToString();
    }

    /// <summary>A JSON string literal (quoted, escaped as the serializer escapes), without reflection: the tool is also published trimmed.</summary>
    private static string Literal(string text) => "\"" + JsonEncodedText.Encode(text).ToString() + "\"";

    private static EvalItem HumanEval(Row r)
    {
        string prompt = r.Text("prompt");
        string entry = r.Text("entry_point");
        string test = r.Text("test");
        ChatMessage[] messages = [ChatMessage.System(CodeSystem), ChatMessage.User($"```python\n{prompt}\n```")];
        return new EvalItem(r.Id("task_id"), TaskKind.Code, messages,
            completion => $"{prompt}\n{CodeExtraction.Extract(completion)}\n\n{test}\n\ncheck({entry})\n", null);
    }

    /// <summary>MBPP: the docstring's first line, then its example assertion; the tests are every assert of test_list.</summary>
    private static EvalItem Mbpp(Row r)
    {
        string prompt = r.Text("prompt");
        string setup = r.OptionalText("test_setup_code");
        List<string> tests = r.Texts("test_list");
        (string description, string example) = MbppPromptParts(prompt, tests.Count > 0 ? tests[0] : string.Empty);
        string user = $"{description}\nYour code should satisfy the following assertion:\n```python\n{example}\n```";
        ChatMessage[] messages = [ChatMessage.System(CodeSystem), ChatMessage.User(user)];
        string testCode = string.Join('\n', tests);
        return new EvalItem(r.Id("task_id"), TaskKind.Code, messages,
            completion => $"{CodeExtraction.Extract(completion)}\n\n{setup}\n{testCode}\n", null);
    }

    /// <summary>The first non-empty docstring line and the docstring's assertion (else the first test).</summary>
    public static (string Description, string Example) MbppPromptParts(string prompt, string fallbackAssert)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        string? description = null;
        string? example = null;
        foreach (string raw in prompt.Split('\n'))
        {
            string line = raw.Trim();
            if (line.Length == 0 || line == "\"\"\"" || line == "'''")
            {
                continue;
            }
            if (line.StartsWith("assert", StringComparison.Ordinal))
            {
                example ??= line;
            }
            else
            {
                description ??= line.Trim('"', '\'').Trim();
            }
        }
        return (description ?? string.Empty, example ?? fallbackAssert);
    }

    private static EvalItem Gsm8k(Row r)
    {
        string answer = r.Answer("answer");
        ChatMessage[] messages = [ChatMessage.System(MathSystem), ChatMessage.User(r.Text("question"))];
        return new EvalItem(r.Id("task_id"), TaskKind.Math, messages, null, completion => MathAnswers.CheckGsm8k(completion, answer));
    }

    private static EvalItem Math500(Row r)
    {
        string answer = r.Answer("answer");
        ChatMessage[] messages = [ChatMessage.System(MathSystem), ChatMessage.User(r.Text("problem"))];
        return new EvalItem(r.Id("unique_id"), TaskKind.Math, messages, null, completion => MathAnswers.CheckMath500(completion, answer));
    }
}
