using System.Text.Json;

namespace MeDlm.Cli.Tests;

/// <summary>The tool run as a subprocess on the model package, checking what a user sees.</summary>
public sealed class EndToEndTests
{
    private const string CodePrompt = "write add_k(items) with k = 13";
    private const string MathPrompt = "hal has 5 bags with 3 pens each and 4 more pens. how many pens?";

    private static string[] With(params string[] args) => [.. args, "--model", Cli.ModelFolder];

    [Fact]
    public void Generate_prints_the_answer_and_a_stats_line_and_exits_0()
    {
        CliRun r = Cli.Run(With("generate", CodePrompt));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.False(string.IsNullOrWhiteSpace(r.Stdout), r.ToString());
        Assert.Contains("passes (", r.Stderr);
        Assert.Contains("tokens/pass", r.Stderr);
        Assert.Contains("outside ONNX Runtime", r.Stderr);
    }

    [Fact]
    public void Generate_json_parses_and_its_text_is_the_plain_answer()
    {
        CliRun plain = Cli.Run(With("generate", MathPrompt, "--budget", "1/2"));
        CliRun json = Cli.Run(With("generate", MathPrompt, "--budget", "1/2", "--json"));
        Assert.True(plain.ExitCode == 0, plain.ToString());
        Assert.True(json.ExitCode == 0, json.ToString());
        using var doc = JsonDocument.Parse(json.Stdout);
        JsonElement o = doc.RootElement;
        Assert.Equal(o.GetProperty("text").GetString() + "\n", plain.Stdout);
        Assert.True(o.GetProperty("token_ids").GetArrayLength() > 0);
        Assert.True(o.GetProperty("draft_token_ids").GetArrayLength() > 0);
        JsonElement stats = o.GetProperty("stats");
        int passes = stats.GetProperty("passes").GetInt32();
        Assert.Equal(passes, stats.GetProperty("mask_passes").GetInt32() + stats.GetProperty("edit_passes").GetInt32());
        Assert.True(passes <= 24, $"budget 1/2 of G=48 allows 24 passes, used {passes}");
        Assert.True(stats.TryGetProperty("edits", out JsonElement edits) && edits.TryGetProperty("replaced", out _));
    }

    [Fact]
    public void The_adaptive_flags_reach_the_decoder()
    {
        CliRun r = Cli.Run(With("generate", MathPrompt, "--algorithm", "threshold", "--threshold", "0.9", "--edit-steps", "8",
            "--edit-threshold", "0.8", "--switch-threshold", "0.6", "--json"));
        Assert.True(r.ExitCode == 0, r.ToString());
        using var doc = JsonDocument.Parse(r.Stdout);
        JsonElement stats = doc.RootElement.GetProperty("stats");
        Assert.InRange(stats.GetProperty("edit_passes").GetInt32(), 1, 8);
        Assert.InRange(stats.GetProperty("mask_passes").GetInt32(), 1, 48);
    }

    [Fact]
    public void Show_edits_prints_the_draft_and_the_final_answer()
    {
        CliRun json = Cli.Run(With("generate", CodePrompt, "--budget", "1/4", "--json"));
        CliRun shown = Cli.Run(With("generate", CodePrompt, "--budget", "1/4", "--show-edits"));
        Assert.True(shown.ExitCode == 0, shown.ToString());
        using var doc = JsonDocument.Parse(json.Stdout);
        string draft = doc.RootElement.GetProperty("draft").GetString()!;
        string text = doc.RootElement.GetProperty("text").GetString()!;
        Assert.Contains("--- draft", shown.Stdout);
        Assert.Contains("--- edits", shown.Stdout);
        Assert.Contains("--- answer", shown.Stdout);
        Assert.Contains(draft, shown.Stdout);
        Assert.Contains(text, shown.Stdout);
        if (draft != text)
        {
            Assert.True(shown.Stdout.Contains("[+", StringComparison.Ordinal) || shown.Stdout.Contains("[-", StringComparison.Ordinal), shown.Stdout);
        }
    }

    [Fact]
    public void Visual_with_redirected_output_prints_plain_frames()
    {
        CliRun r = Cli.Run(With("generate", CodePrompt, "--budget", "1/8", "--visual", "--frame-ms", "0"));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("--- unmasking (step 1/", r.Stdout);
        Assert.Contains("pass 1/6", r.Stdout);
        Assert.Contains("edit round 1/", r.Stdout);
        Assert.DoesNotContain("\u001b[", r.Stdout, StringComparison.Ordinal); // no ANSI escapes when redirected
    }

    [Fact]
    public void Without_model_the_bundled_package_is_found_from_the_tools_own_folder()
    {
        // Always the bundled package (not MEDLM_CLI_TEST_MODEL): this is what a fresh checkout runs.
        string bundled = Path.Combine(Cli.RepoRoot, "onnx", "medlm-tiny");
        Assert.True(File.Exists(Path.Combine(bundled, "denoiser.onnx")), $"the bundled model is missing: {bundled}/denoiser.onnx");
        // From a folder outside the repository, discovery walks up from the tool's build output instead.
        CliRun r = Cli.RunIn(Path.GetTempPath(), TimeSpan.FromSeconds(150), "generate", CodePrompt, "--json");
        Assert.True(r.ExitCode == 0, r.ToString());
        using var doc = JsonDocument.Parse(r.Stdout);
        Assert.Equal("medlm-tiny", doc.RootElement.GetProperty("model").GetString());
    }

    [Fact]
    public void A_missing_model_folder_exits_1_naming_the_folder()
    {
        string missing = Path.Combine(Path.GetTempPath(), "medlm-no-such-model-" + Guid.NewGuid().ToString("N"));
        CliRun r = Cli.Run("generate", "hi", "--model", missing);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains(missing, r.Stderr);
        Assert.Single(r.Stderr.Trim().Split('\n'));
    }

    [Fact]
    public void A_broken_package_exits_1_naming_the_broken_file()
    {
        string dir = Directory.CreateTempSubdirectory("medlm-broken-").FullName;
        try
        {
            // A manifest that is not JSON.
            File.WriteAllText(Path.Combine(dir, "medlm.json"), "{ not json");
            File.Copy(Path.Combine(Cli.ModelFolder, "tokenizer.json"), Path.Combine(dir, "tokenizer.json"));
            CliRun r = Cli.Run("generate", "hi", "--model", dir);
            Assert.Equal(1, r.ExitCode);
            Assert.Contains(Path.Combine(dir, "medlm.json"), r.Stderr);

            // A valid manifest whose denoiser graph is missing.
            File.Copy(Path.Combine(Cli.ModelFolder, "medlm.json"), Path.Combine(dir, "medlm.json"), overwrite: true);
            r = Cli.Run("generate", "hi", "--model", dir);
            Assert.Equal(1, r.ExitCode);
            Assert.Contains("denoiser.onnx", r.Stderr);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Theory]
    [InlineData("generate", "hi", "--no-such-flag")]
    [InlineData("generate", "hi", "--budget", "3/2")]
    [InlineData("generate", "hi", "--algorithm", "beam")]
    [InlineData("generate", "hi", "--edit-threshold", "1.5")]
    [InlineData("generate", "hi", "--switch-threshold", "-1")]
    [InlineData("generate")]
    [InlineData("no-such-command")]
    public void Usage_errors_exit_2_with_one_line_on_stderr(params string[] args)
    {
        CliRun r = Cli.Run(args);
        Assert.True(r.ExitCode == 2, r.ToString());
        Assert.StartsWith("medlm: error:", r.Stderr, StringComparison.Ordinal);
        Assert.Single(r.Stderr.Trim().Split('\n'));
    }

    [Fact]
    public void A_request_the_model_rejects_is_a_usage_error()
    {
        // 5 mask steps over one block are fine; a block length that does not divide G is not.
        CliRun r = Cli.Run(With("generate", "hi", "--block-length", "7"));
        Assert.True(r.ExitCode == 2, r.ToString());
        Assert.Contains("BlockLength", r.Stderr);
        r = Cli.Run(With("generate", "hi", "--algorithm", "random", "--switch-threshold", "0.5"));
        Assert.True(r.ExitCode == 2, r.ToString());
        Assert.Contains("SwitchThreshold", r.Stderr);
    }

    [Fact]
    public void Help_exits_0_and_lists_the_commands()
    {
        CliRun r = Cli.Run("--help");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("generate", r.Stdout);
        Assert.Contains("bench", r.Stdout);
        Assert.Contains("eval", r.Stdout);
    }

    [Fact]
    public void Eval_limit_8_prints_the_table()
    {
        CliRun r = Cli.Run(With("eval", "--limit", "8"));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("8 items", r.Stdout);
        Assert.Contains("| budget (passes) | mask only: code / math / all |", r.Stdout);
        foreach (string b in new[] { "| 1/1 (", "| 1/2 (", "| 1/4 (", "| 1/8 (" })
        {
            Assert.Contains(b, r.Stdout);
        }
    }

    [Fact]
    public void Eval_json_has_a_row_per_budget()
    {
        CliRun r = Cli.Run(With("eval", "--limit", "4", "--budgets", "1/4,1/8", "--json"));
        Assert.True(r.ExitCode == 0, r.ToString());
        using var doc = JsonDocument.Parse(r.Stdout);
        JsonElement rows = doc.RootElement.GetProperty("rows");
        Assert.Equal(2, rows.GetArrayLength());
        Assert.Equal("1/4", rows[0].GetProperty("budget").GetString());
        Assert.True(rows[0].GetProperty("mask_edit").GetProperty("all").GetDouble() >= 0);
    }

    [Fact]
    public void Bench_count_4_prints_throughput_and_the_reference_or_why_not()
    {
        CliRun r = Cli.Run(With("bench", "--count", "4", "--batch-size", "2"));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("tokens/s", r.Stdout);
        Assert.Contains("passes/s", r.Stdout);
        Assert.Contains("outside ONNX Runtime", r.Stdout);
        Assert.True(
            r.Stdout.Contains("speed ratio (C# / PyTorch tokens/s)", StringComparison.Ordinal)
            || r.Stdout.Contains("python3 with torch not found", StringComparison.Ordinal),
            r.ToString());
        if (r.Stdout.Contains("speed ratio", StringComparison.Ordinal))
        {
            // Same package, prompt ids and settings: the reference decoders must give the same tokens.
            Assert.Contains("responses token-identical: yes (4/4)", r.Stdout);
        }
    }

    [Fact]
    public void Bench_without_a_usable_python_prints_the_runtime_numbers_only()
    {
        CliRun r = Cli.Run(With("bench", "--count", "2", "--batch-size", "2", "--warmup", "0", "--python", "/nonexistent/python3"));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("tokens/s", r.Stdout);
        Assert.Contains("python3 with torch not found", r.Stdout);
    }
}
