using System.Globalization;
using System.Text;
using System.Text.Json;
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

    /// <summary>Reads up to <paramref name="limit"/> items (0: all) from a JSON-lines file, detecting its format from the first line.</summary>
    public static (SetFormat Format, List<EvalItem> Items) Load(string path, int limit)
    {
        if (!File.Exists(path))
        {
            throw new CliException($"{path}: evaluation set not found", ExitCodes.RuntimeError);
        }
        var items = new List<EvalItem>();
        SetFormat? format = null;
        int lineNo = 0;
        foreach (string line in File.ReadLines(path))
        {
            lineNo++;
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }
            if (limit > 0 && items.Count >= limit)
            {
                break;
            }
            try
            {
                using var doc = JsonDocument.Parse(line);
                JsonElement o = doc.RootElement;
                format ??= Detect(o) ?? throw new CliException(
                    $"{path}: line {lineNo}: unknown format (expected the held-out set, HumanEval, MBPP, GSM8K or MATH-500 fields)");
                items.Add(Item(format.Value, o, lineNo));
            }
            catch (JsonException e)
            {
                throw new CliException($"{path}: line {lineNo}: not JSON ({e.Message})");
            }
            catch (KeyNotFoundException e)
            {
                throw new CliException($"{path}: line {lineNo}: {e.Message}");
            }
            catch (InvalidOperationException e)
            {
                throw new CliException($"{path}: line {lineNo}: a field has the wrong type ({e.Message})");
            }
        }
        if (format is null || items.Count == 0)
        {
            throw new CliException($"{path}: no items");
        }
        return (format.Value, items);
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

    private static EvalItem Item(SetFormat format, JsonElement o, int lineNo) => format switch
    {
        SetFormat.Heldout => Heldout(o, lineNo),
        SetFormat.HumanEval => HumanEval(o),
        SetFormat.Mbpp => Mbpp(o),
        SetFormat.Gsm8k => Gsm8k(o, lineNo),
        SetFormat.Math500 => Math500(o, lineNo),
        _ => throw new ArgumentOutOfRangeException(nameof(format)),
    };

    private static string Str(JsonElement o, string name) =>
        o.TryGetProperty(name, out JsonElement v) ? v.ValueKind == JsonValueKind.String ? v.GetString()! : v.GetRawText()
        : throw new KeyNotFoundException($"field '{name}' is missing");

    private static string Id(JsonElement o, string field, int lineNo) =>
        o.TryGetProperty(field, out JsonElement v) ? (v.ValueKind == JsonValueKind.String ? v.GetString()! : v.GetRawText()) : $"line {lineNo}";

    /// <summary>
    /// The bundled set: the prompt as the only user message (the model was trained without a system
    /// message); code = the whole answer is the function, run on each test input (as corpus.check_code_batch).
    /// </summary>
    private static EvalItem Heldout(JsonElement o, int lineNo)
    {
        string id = Id(o, "id", lineNo);
        string kind = Str(o, "kind");
        ChatMessage[] messages = [ChatMessage.User(Str(o, "prompt"))];
        if (kind == "code")
        {
            string entry = Str(o, "entry_point");
            string tests = o.GetProperty("tests").GetRawText();
            return new EvalItem(id, TaskKind.Code, messages, completion => HeldoutProgram(completion, entry, tests), null);
        }
        if (kind == "math")
        {
            long answer = o.GetProperty("answer").ValueKind == JsonValueKind.Number
                ? o.GetProperty("answer").GetInt64()
                : long.Parse(Str(o, "answer"), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
            return new EvalItem(id, TaskKind.Math, messages, null, completion => MathAnswers.CheckHeldout(completion, answer));
        }
        throw new KeyNotFoundException($"kind '{kind}' is neither code nor math");
    }

    /// <summary>
    /// corpus.check_code_batch as a program: exec the answer, then <c>f(list(inp)) == exp</c> for every test.
    /// The tests travel as a JSON string literal (which is also a valid Python string literal).
    /// </summary>
    public static string HeldoutProgram(string completion, string entryPoint, string testsJson)
    {
        var sb = new StringBuilder();
        sb.Append("__answer = ").Append(JsonSerializer.Serialize(completion)).Append('\n');
        sb.Append("__tests = __import__('json').loads(").Append(JsonSerializer.Serialize(testsJson)).Append(")\n");
        sb.Append("__env = {}\n");
        sb.Append("exec(compile(__answer, '<answer>', 'exec'), __env)\n");
        sb.Append("__f = __env[").Append(JsonSerializer.Serialize(entryPoint)).Append("]\n");
        sb.Append("if not all(__f(list(inp)) == exp for inp, exp in __tests):\n    raise AssertionError('wrong answer')\n");
        return sb.ToString();
    }

    private static EvalItem HumanEval(JsonElement o)
    {
        string prompt = Str(o, "prompt");
        string entry = Str(o, "entry_point");
        string test = Str(o, "test");
        ChatMessage[] messages = [ChatMessage.System(CodeSystem), ChatMessage.User($"```python\n{prompt}\n```")];
        return new EvalItem(Str(o, "task_id"), TaskKind.Code, messages,
            completion => $"{prompt}\n{CodeExtraction.Extract(completion)}\n\n{test}\n\ncheck({entry})\n", null);
    }

    /// <summary>MBPP: the docstring's first line, then its example assertion; the tests are every assert of test_list.</summary>
    private static EvalItem Mbpp(JsonElement o)
    {
        string prompt = Str(o, "prompt");
        string setup = o.TryGetProperty("test_setup_code", out JsonElement s) && s.ValueKind == JsonValueKind.String ? s.GetString()! : string.Empty;
        var tests = new List<string>();
        foreach (JsonElement t in o.GetProperty("test_list").EnumerateArray())
        {
            tests.Add(t.GetString() ?? string.Empty);
        }
        (string description, string example) = MbppPromptParts(prompt, tests.Count > 0 ? tests[0] : string.Empty);
        string user = $"{description}\nYour code should satisfy the following assertion:\n```python\n{example}\n```";
        ChatMessage[] messages = [ChatMessage.System(CodeSystem), ChatMessage.User(user)];
        string testCode = string.Join('\n', tests);
        return new EvalItem(Str(o, "task_id"), TaskKind.Code, messages,
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

    private static EvalItem Gsm8k(JsonElement o, int lineNo)
    {
        string answer = Str(o, "answer");
        ChatMessage[] messages = [ChatMessage.System(MathSystem), ChatMessage.User(Str(o, "question"))];
        return new EvalItem(Id(o, "task_id", lineNo), TaskKind.Math, messages, null, completion => MathAnswers.CheckGsm8k(completion, answer));
    }

    private static EvalItem Math500(JsonElement o, int lineNo)
    {
        string answer = Str(o, "answer");
        ChatMessage[] messages = [ChatMessage.System(MathSystem), ChatMessage.User(Str(o, "problem"))];
        return new EvalItem(Id(o, "unique_id", lineNo), TaskKind.Math, messages, null, completion => MathAnswers.CheckMath500(completion, answer));
    }
}
