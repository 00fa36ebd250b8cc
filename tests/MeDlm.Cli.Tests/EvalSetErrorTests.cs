using System.Text;
using MeDlm.Cli.Evaluation;

namespace MeDlm.Cli.Tests;

/// <summary>
/// Malformed evaluation sets: every problem is one clear error naming the file, the line and (where
/// there is one) the field, never a runtime message such as "The given key was not present".
/// </summary>
public sealed class EvalSetErrorTests : IDisposable
{
    private const string HeldoutCode = """{"id": "a/0", "kind": "code", "prompt": "write f(xs)", "entry_point": "f", "tests": [[[1], [2]]]}""";
    private const string HeldoutMath = """{"id": "a/1", "kind": "math", "prompt": "2 + 2?", "answer": 4}""";
    private const string HumanEval = """{"task_id": "HumanEval/0", "prompt": "def f():\n", "entry_point": "f", "test": "def check(c):\n    pass\n"}""";
    private const string Mbpp = """{"task_id": 2, "prompt": "Write f.", "test_list": ["assert f() == 1"]}""";
    private const string Gsm8k = """{"question": "2 + 2?", "answer": "#### 4"}""";

    private readonly string _dir = Directory.CreateTempSubdirectory("medlm-evalset-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>name, file text (lines joined by \n), the line named, words the message must hold.</summary>
    public static TheoryData<string, string, int, string> Malformed() => new()
    {
        { "held-out code row without tests", HeldoutCode + "\n" + """{"id": "a/2", "kind": "code", "prompt": "p", "entry_point": "f", "answer": 3}""", 2, "field 'tests' is missing" },
        { "held-out math row without answer", """{"kind": "math", "prompt": "p", "tests": []}""", 1, "field 'answer' is missing" },
        { "held-out row without kind", HeldoutMath + "\n" + """{"prompt": "p", "answer": 3}""", 2, "field 'kind' is missing" },
        { "held-out row of an unknown kind", """{"kind": "essay", "prompt": "p", "answer": 3}""", 1, "field 'kind' is \"essay\"; it must be \"code\" or \"math\"" },
        { "MBPP row without test_list", Mbpp + "\n\n" + """{"task_id": 3, "prompt": "Write g."}""", 3, "field 'test_list' is missing" },
        { "HumanEval row without entry_point", HumanEval + "\n" + """{"task_id": "HumanEval/1", "prompt": "p", "test": "t"}""", 2, "field 'entry_point' is missing" },
        { "GSM8K row without question", Gsm8k + "\n" + """{"answer": "#### 5"}""", 2, "field 'question' is missing" },
        { "a prompt that is a number", """{"kind": "math", "prompt": 42, "answer": 3}""", 1, "field 'prompt' must be a string, got a number" },
        { "a prompt that is null", Gsm8k + "\n" + """{"question": null, "answer": "#### 4"}""", 2, "field 'question' must be a string, got null" },
        { "tests that are not an array", """{"kind": "code", "prompt": "p", "entry_point": "f", "tests": "[[1], [2]]"}""", 1, "field 'tests' must be an array, got a string" },
        { "a test_list item that is not a string", """{"task_id": 2, "prompt": "Write f.", "test_list": ["assert f() == 1", 7]}""", 1, "field 'test_list[1]' must be a string, got a number" },
        { "a held-out answer that is not an integer", HeldoutMath + "\n" + """{"kind": "math", "prompt": "p", "answer": "many"}""", 2, "field 'answer' must be an integer" },
        { "a fractional held-out answer", """{"kind": "math", "prompt": "p", "answer": 2.5}""", 1, "field 'answer' must be an integer" },
        { "a boolean GSM8K answer", """{"question": "q", "answer": true}""", 1, "field 'answer' must be a string or a number, got true" },
        { "bad JSON on a line", Gsm8k + "\n" + Gsm8k + "\n" + """{"question": "q", "answer": """, 3, "not valid JSON" },
        { "two objects on one line", Gsm8k + " " + Gsm8k, 1, "not valid JSON" },
        { "a line that is not an object", Gsm8k + "\n[1, 2]", 2, "must be a JSON object, got an array" },
        { "a first line of no known set", """{"text": "hello"}""", 1, "unknown format" },
        { "a lone surrogate escape in a prompt", Gsm8k + "\n" + """{"question": "q \ud800", "answer": "4"}""", 2, "field 'question' holds an unpaired UTF-16 surrogate" },
        { "a lone surrogate escape in a field name", Gsm8k + "\n" + """{"\udc00": 1, "question": "q", "answer": "4"}""", 2, "unpaired UTF-16 surrogate" },
        { "a BOM on a later line", Gsm8k + "\n\uFEFF" + Gsm8k, 2, "byte order mark" },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void A_malformed_row_names_the_file_the_line_and_the_field(string name, string text, int line, string words)
    {
        string path = Write(name, Encoding.UTF8.GetBytes(text + "\n"));
        var e = Assert.Throws<CliException>(() => EvalSet.Load(path, 0));
        Assert.StartsWith($"{path}: line {line}: ", e.Message, StringComparison.Ordinal);
        Assert.Contains(words, e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("dictionary", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Bytes_that_are_not_utf8_name_their_line()
    {
        byte[] bytes = [.. Encoding.UTF8.GetBytes(Gsm8k + "\n" + """{"question": "caf"""), 0xE9, .. Encoding.UTF8.GetBytes("\", \"answer\": \"4\"}\n")];
        string path = Write("latin1", bytes);
        var e = Assert.Throws<CliException>(() => EvalSet.Load(path, 0));
        Assert.Equal($"{path}: line 2: not valid UTF-8 (save the file as UTF-8)", e.Message);
    }

    [Fact]
    public void An_empty_file_and_a_file_of_blank_lines_say_so()
    {
        string empty = Write("empty", []);
        Assert.Equal($"{empty}: the file is empty; an evaluation set holds one JSON object per line",
            Assert.Throws<CliException>(() => EvalSet.Load(empty, 0)).Message);
        string blank = Write("blank", Encoding.UTF8.GetBytes("\n  \r\n\t\n"));
        Assert.Equal($"{blank}: no items (the file holds only blank lines)",
            Assert.Throws<CliException>(() => EvalSet.Load(blank, 0)).Message);
        string bomOnly = Write("bom-only", [0xEF, 0xBB, 0xBF]);
        Assert.Equal($"{bomOnly}: no items (the file holds only blank lines)",
            Assert.Throws<CliException>(() => EvalSet.Load(bomOnly, 0)).Message);
    }

    [Fact]
    public void A_leading_bom_and_crlf_line_ends_are_read_as_plain_utf8()
    {
        byte[] bytes = [0xEF, 0xBB, 0xBF, .. Encoding.UTF8.GetBytes(HeldoutCode + "\r\n\r\n" + HeldoutMath + "\r\n")];
        (SetFormat format, List<EvalItem> items) = EvalSet.Load(Write("bom-crlf", bytes), 0);
        Assert.Equal(SetFormat.Heldout, format);
        Assert.Equal(["a/0", "a/1"], items.Select(i => i.Id));
        Assert.Equal("write f(xs)", items[0].Messages[0].Content);
        Assert.True(items[1].Check("so 4"));
        // Without a trailing newline, and with ids that are numbers (MBPP's task_id).
        (SetFormat mbpp, List<EvalItem> m) = EvalSet.Load(Write("mbpp", Encoding.UTF8.GetBytes(Mbpp)), 0);
        Assert.Equal(SetFormat.Mbpp, mbpp);
        Assert.Equal("2", m.Single().Id);
    }

    [Fact]
    public void The_limit_stops_before_a_later_bad_line()
    {
        string path = Write("limit", Encoding.UTF8.GetBytes(Gsm8k + "\n" + Gsm8k + "\n{broken\n"));
        Assert.Equal(2, EvalSet.Load(path, 2).Items.Count);
        Assert.Throws<CliException>(() => EvalSet.Load(path, 0));
    }

    [Fact]
    public void The_tool_reports_a_missing_field_with_its_line_and_exits_1()
    {
        string path = Write("cli", Encoding.UTF8.GetBytes(HeldoutMath + "\n" + """{"id": "a/2", "kind": "code", "prompt": "p", "entry_point": "f", "answer": 3}""" + "\n"));
        CliRun r = Cli.Run("eval", "--set", path, "--limit", "2", "--model", Cli.ModelFolder);
        Assert.True(r.ExitCode == 1, r.ToString());
        Assert.Contains($"{path}: line 2: field 'tests' is missing", r.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("dictionary", r.Stderr, StringComparison.Ordinal);
    }

    private string Write(string name, byte[] bytes)
    {
        string path = Path.Combine(_dir, string.Concat(name.Split(' ')) + ".jsonl");
        File.WriteAllBytes(path, bytes);
        return path;
    }
}
