using System.Text.Json;
using MeDlm.Cli.Evaluation;

namespace MeDlm.Cli.Tests;

/// <summary>The python3 test runner and the program each set builds, on real items and reference answers.</summary>
public sealed class CodeRunnerTests
{
    private static string Python => PythonLocator.Find(null, "import json", TimeSpan.FromSeconds(30))
        ?? throw new InvalidOperationException("python3 is needed to run the code tests");

    private static CodeRunner Runner(double seconds = 10) => new(Python, TimeSpan.FromSeconds(seconds), 2);

    [Fact]
    public async Task Passing_failing_hanging_and_exiting_programs_are_each_judged_alone()
    {
        string[] programs =
        [
            "assert 1 + 1 == 2",
            "assert 1 + 1 == 3",
            "while True:\n    pass",
            "import os\nos._exit(0)",
            "print('noise on stdout')\nimport sys\nsys.stderr.write('and stderr')",
            "raise SystemExit(0)",
            "def f(:",
            "x = [1] * 10\nassert sum(x) == 10",
        ];
        bool[] passed = await Runner(1.5).RunAsync(programs, null, CancellationToken.None);
        Assert.Equal([true, false, false, false, true, false, false, true], passed);
    }

    [Fact]
    public async Task Bundled_reference_answers_pass_their_tests_and_wrong_ones_fail()
    {
        string heldout = Path.Combine(Cli.RepoRoot, "onnx", "medlm-tiny", "heldout.jsonl");
        (SetFormat format, List<EvalItem> items) = EvalSet.Load(heldout, 60);
        Assert.Equal(SetFormat.Heldout, format);
        var programs = new List<string>();
        var expected = new List<bool>();
        int k = 0;
        foreach (string line in File.ReadLines(heldout))
        {
            if (k >= items.Count)
            {
                break;
            }
            EvalItem item = items[k++];
            using var doc = JsonDocument.Parse(line);
            string answer = doc.RootElement.GetProperty("answers")[0].GetString()!;
            if (item.Kind == TaskKind.Math)
            {
                Assert.True(item.Check(answer), $"{item.Id}: {answer}");
                Assert.False(item.Check(answer + "\nso 100000"), item.Id);
                continue;
            }
            programs.Add(item.Program(answer));
            expected.Add(true);
            // The same function with the first "return" of a wrong value.
            programs.Add(item.Program(answer.Replace("return ", "return None and ", StringComparison.Ordinal)));
            expected.Add(false);
        }
        Assert.True(programs.Count >= 10);
        bool[] passed = await Runner().RunAsync(programs, null, CancellationToken.None);
        Assert.Equal(expected, passed);
    }

    [Fact]
    public async Task HumanEval_and_Mbpp_programs_run_the_canonical_solution_against_the_tests()
    {
        string humanEval = JsonSerializer.Serialize(new Dictionary<string, string>
        {
            ["task_id"] = "HumanEval/x",
            ["prompt"] = "def add(a: int, b: int) -> int:\n    \"\"\" Add two numbers.\n    >>> add(1, 2)\n    3\n    \"\"\"\n",
            ["entry_point"] = "add",
            ["canonical_solution"] = "    return a + b\n",
            ["test"] = "\n\ndef check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(-1, 1) == 0\n",
        });
        string mbpp = JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["task_id"] = "Mbpp/x",
            ["prompt"] = "\"\"\"\nWrite a function to double a number.\nassert double(2) == 4\n\"\"\"\n",
            ["test_setup_code"] = "",
            ["test_list"] = new[] { "assert double(2) == 4", "assert double(0) == 0" },
        });
        string dir = Directory.CreateTempSubdirectory("medlm-sets-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "he.jsonl"), humanEval + "\n");
            File.WriteAllText(Path.Combine(dir, "mbpp.jsonl"), mbpp + "\n");
            (SetFormat heFormat, List<EvalItem> he) = EvalSet.Load(Path.Combine(dir, "he.jsonl"), 0);
            (SetFormat mbFormat, List<EvalItem> mb) = EvalSet.Load(Path.Combine(dir, "mbpp.jsonl"), 0);
            Assert.Equal(SetFormat.HumanEval, heFormat);
            Assert.Equal(SetFormat.Mbpp, mbFormat);
            Assert.Equal("user", he[0].Messages[1].Role);
            Assert.StartsWith("```python\ndef add", he[0].Messages[1].Content, StringComparison.Ordinal);
            Assert.Equal(EvalSet.CodeSystem, mb[0].Messages[0].Content);
            Assert.Equal(
                "Write a function to double a number.\nYour code should satisfy the following assertion:\n```python\nassert double(2) == 4\n```",
                mb[0].Messages[1].Content);

            string[] programs =
            [
                he[0].Program("Sure:\n```python\ndef add(a: int, b: int) -> int:\n    return a + b\n```\nDone."),
                he[0].Program("```python\ndef add(a, b):\n    return a - b\n```"),
                mb[0].Program("```python\ndef double(x):\n    return 2 * x\nprint(double(3))\n```"),
                mb[0].Program("```python\ndef double(x):\n    return x + 2\n```"),
            ];
            bool[] passed = await Runner().RunAsync(programs, null, CancellationToken.None);
            Assert.Equal([true, false, true, false], passed);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Math_sets_are_detected_and_prompted_with_the_math_system_message()
    {
        string dir = Directory.CreateTempSubdirectory("medlm-sets-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "gsm.jsonl"), "{\"question\": \"2+2?\", \"solution\": \"#### 4\", \"answer\": \"4\"}\n");
            File.WriteAllText(Path.Combine(dir, "math.jsonl"), "{\"problem\": \"half of 1?\", \"solution\": \"\", \"answer\": \"\\\\frac{1}{2}\", \"unique_id\": \"u1\"}\n");
            (SetFormat gf, List<EvalItem> g) = EvalSet.Load(Path.Combine(dir, "gsm.jsonl"), 0);
            (SetFormat mf, List<EvalItem> m) = EvalSet.Load(Path.Combine(dir, "math.jsonl"), 0);
            Assert.Equal(SetFormat.Gsm8k, gf);
            Assert.Equal(SetFormat.Math500, mf);
            Assert.Equal(EvalSet.MathSystem, g[0].Messages[0].Content);
            Assert.Equal("2+2?", g[0].Messages[1].Content);
            Assert.True(g[0].Check("2 + 2 = \\boxed{4}"));
            Assert.True(m[0].Check("so \\boxed{\\dfrac{1}{2}}"));
            Assert.False(m[0].Check("so \\boxed{0.5}"));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
