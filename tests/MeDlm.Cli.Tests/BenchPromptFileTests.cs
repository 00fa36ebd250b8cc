namespace MeDlm.Cli.Tests;

/// <summary><c>medlm bench --prompts FILE</c>: a malformed line is one error naming the file and the line.</summary>
public sealed class BenchPromptFileTests
{
    public static TheoryData<string, string, string> Malformed() => new()
    {
        { "a line that is not an object", "{\"prompt\": \"hi\"}\n[1, 2]\n", "line 2: must be a JSON object with a \"prompt\" string field" },
        { "a lone surrogate escape", "{\"prompt\": \"hi \\ud800\"}\n", "line 1: field 'prompt' holds an unpaired UTF-16 surrogate escape" },
        { "a prompt that is a number", "{\"prompt\": 7}\n", "line 1: no \"prompt\" string field" },
        { "bad JSON", "{\"prompt\": \"hi\"}\n\n{\"prompt\": \n", "line 3: not JSON" },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void A_malformed_line_names_the_file_and_the_line(string name, string text, string words)
    {
        string dir = Directory.CreateTempSubdirectory("medlm-bench-prompts-").FullName;
        try
        {
            string path = Path.Combine(dir, "prompts.jsonl");
            File.WriteAllText(path, text);
            CliRun r = Cli.Run("bench", "--prompts", path, "--no-reference", "-n", "2", "--warmup", "0", "--model", Cli.ModelFolder);
            Assert.True(r.ExitCode == 1, $"{name}: {r}");
            Assert.Contains($"{path}: {words}", r.Stderr, StringComparison.Ordinal);
            Assert.DoesNotContain("InvalidOperationException", r.Stderr, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
