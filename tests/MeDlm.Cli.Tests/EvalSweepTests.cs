using System.Text.Json;
using System.Text.Json.Nodes;
using MeDlm.Decoding;

namespace MeDlm.Cli.Tests;

/// <summary>
/// <c>medlm eval</c> over decoding settings (flags, <c>--setting</c>, <c>--sweep</c>), its frontier plot, and
/// <c>--write-auto</c> with budget auto in <c>generate</c>: the tool as a subprocess on the bundled model.
/// </summary>
public sealed class EvalSweepTests
{
    private const string Threshold = "algorithm=threshold,threshold=0.9,edit_steps=4";
    private const string StageOne = "algorithm=threshold,threshold=0.9,edit_steps=0";
    private const string Prompt = "write add_k(items) with k = 13";

    private static string[] With(string model, params string[] args) => [.. args, "--model", model];

    private static JsonElement Settings(JsonDocument doc) => doc.RootElement.GetProperty("settings");

    [Fact]
    public void Settings_and_budgets_report_accuracy_passes_tokens_edits_and_speed_as_json()
    {
        CliRun r = Cli.Run(With(Cli.ModelFolder, "eval", "--limit", "6", "--budgets", "1/8", "--setting", Threshold, "--setting", StageOne, "--json"));
        Assert.True(r.ExitCode == 0, r.ToString());
        using var doc = JsonDocument.Parse(r.Stdout);
        JsonElement settings = Settings(doc);
        Assert.Equal(4, settings.GetArrayLength());
        Assert.Equal(["mask_only", "mask_edit", "setting", "setting"], settings.EnumerateArray().Select(s => s.GetProperty("mode").GetString()));
        // The budget table is still there, with one row per budget.
        Assert.Equal(1, doc.RootElement.GetProperty("rows").GetArrayLength());

        // Mask only at 1/8 spends exactly the budget's passes on every answer.
        int total = Budget.Split(doc.RootElement.GetProperty("gen_length").GetInt32(), 0.125, editShare: 0).MaskSteps;
        Assert.Equal(total, settings[0].GetProperty("passes_mean").GetDouble());
        Assert.Equal(total, settings[0].GetProperty("passes_p90").GetInt32());
        Assert.Equal(0, settings[0].GetProperty("edit_rounds_used").GetDouble());

        JsonElement withEdits = settings[2], stageOne = settings[3];
        Assert.Equal(Threshold, withEdits.GetProperty("setting").GetString());
        Assert.Equal("threshold", withEdits.GetProperty("algorithm").GetString());
        Assert.Equal(4, withEdits.GetProperty("edit_rounds_allowed").GetInt32());
        Assert.Equal(0, stageOne.GetProperty("edit_rounds_used").GetDouble());
        foreach (JsonElement s in settings.EnumerateArray())
        {
            double mean = s.GetProperty("passes_mean").GetDouble();
            Assert.True(mean >= 1, s.ToString());
            Assert.True(s.GetProperty("passes_p90").GetInt32() >= Math.Floor(mean) - 1, s.ToString());
            Assert.True(s.GetProperty("tokens_per_pass").GetDouble() > 0, s.ToString());
            Assert.True(s.GetProperty("answers_per_second").GetDouble() > 0, s.ToString());
            Assert.InRange(s.GetProperty("all").GetDouble(), 0, 100);
            JsonElement edits = s.GetProperty("edits_per_answer");
            Assert.True(edits.GetProperty("replaced").GetDouble() >= 0 && edits.GetProperty("deleted").GetDouble() >= 0
                && edits.GetProperty("inserted").GetDouble() >= 0, s.ToString());
        }
        // Edit rounds stop at the fixed point: the mean passes are the mask passes plus the rounds that ran.
        Assert.Equal(withEdits.GetProperty("passes_mean").GetDouble(),
            withEdits.GetProperty("mask_passes_mean").GetDouble() + withEdits.GetProperty("edit_rounds_used").GetDouble(), 9);
        // Stage 1 is the same decoder with or without the rounds after it.
        Assert.Equal(stageOne.GetProperty("passes_mean").GetDouble(), withEdits.GetProperty("mask_passes_mean").GetDouble(), 9);
    }

    [Fact]
    public void Decoding_flags_alone_are_one_setting_and_a_sweep_file_prints_the_table_and_the_plot()
    {
        string dir = Directory.CreateTempSubdirectory("medlm-sweep-").FullName;
        try
        {
            CliRun flags = Cli.Run(With(Cli.ModelFolder, "eval", "--limit", "3", "--algorithm", "threshold", "--threshold", "0.9", "--edit-steps", "2", "--json"));
            Assert.True(flags.ExitCode == 0, flags.ToString());
            double accuracy;
            using (var doc = JsonDocument.Parse(flags.Stdout))
            {
                JsonElement only = Assert.Single(Settings(doc).EnumerateArray());
                Assert.Equal("algorithm=threshold,edit_steps=2,threshold=0.9", only.GetProperty("setting").GetString());
                Assert.Equal(0, doc.RootElement.GetProperty("rows").GetArrayLength());
                accuracy = only.GetProperty("all").GetDouble();
            }

            // An earlier --json output is combined without decoding again.
            string earlier = Path.Combine(dir, "earlier.json");
            File.WriteAllText(earlier, flags.Stdout);
            CliRun combined = Cli.Run(With(Cli.ModelFolder, "eval", "--from", earlier, "--plot", Path.Combine(dir, "combined")));
            Assert.True(combined.ExitCode == 0, combined.ToString());
            Assert.Contains($"| `algorithm=threshold,edit_steps=2,threshold=0.9` | {accuracy.ToString("0.0", System.Globalization.CultureInfo.InvariantCulture)} |", combined.Stdout);
            Assert.True(File.Exists(Path.Combine(dir, "combined.png")) && File.Exists(Path.Combine(dir, "combined.svg")), combined.ToString());
            File.WriteAllText(earlier, "{}");
            CliRun bad = Cli.Run(With(Cli.ModelFolder, "eval", "--from", earlier));
            Assert.True(bad.ExitCode == 2, bad.ToString());
            Assert.Contains("not the JSON output of medlm eval --json", bad.Stderr, StringComparison.Ordinal);

            string sweep = Path.Combine(dir, "sweep.txt");
            File.WriteAllLines(sweep, ["# two settings", "", Threshold, "algorithm=threshold,threshold=0.7,edit_steps=4,edit_threshold=0.5"]);
            string plot = Path.Combine(dir, "out", "frontier");
            CliRun r = Cli.Run(With(Cli.ModelFolder, "eval", "--limit", "3", "--budgets", "1/4,1/8", "--sweep", sweep, "--plot", plot));
            Assert.True(r.ExitCode == 0, r.ToString());
            Assert.Contains("| setting | accuracy: ", r.Stdout);
            Assert.Contains(" | passes mean / p90 | tokens/pass | edits R / D / I per answer | answers/s |", r.Stdout);
            Assert.Contains("| mask only 1/8 |", r.Stdout);
            Assert.Contains($"| `{Threshold}` |", r.Stdout);
            Assert.Contains("edit_threshold=0.5` |", r.Stdout);
            byte[] png = File.ReadAllBytes(plot + ".png");
            Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, png[..4]);
            string svg = File.ReadAllText(plot + ".svg");
            Assert.Contains("<svg", svg, StringComparison.Ordinal);
            Assert.Contains("mean forward passes per answer", svg, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Theory]
    [InlineData("--setting", "algorithm=threshold,threshold=1.5", "threshold must be in (0, 1] (got 1.5)")]
    [InlineData("--setting", "tau=0.9", "unknown key 'tau'")]
    [InlineData("--setting", "algorithm=beam", "algorithm: 'beam' is not one of")]
    [InlineData("--setting", "budget=3/2", "budget '3/2' must be in (0, 1]")]
    [InlineData("--setting", "threshold", "'threshold' is not key=value")]
    [InlineData("--setting", "block_length=7", "setting block_length=7: GenLength 48 is not divisible by BlockLength 7")]
    [InlineData("--sweep", "no-such-sweep-file.txt", "--sweep no-such-sweep-file.txt:")]
    [InlineData("--write-auto", null, "--write-auto chooses among settings")]
    [InlineData("--from", "no-such-eval.json", "--from no-such-eval.json: not the JSON output")]
    [InlineData("--raw", null, "--raw and --system do not apply")]
    public void A_bad_setting_is_a_usage_error_naming_it(string flag, string? value, string fragment)
    {
        string[] args = value is null ? ["eval", "--limit", "2", flag] : ["eval", "--limit", "2", flag, value];
        CliRun r = Cli.Run(With(Cli.ModelFolder, args));
        Assert.True(r.ExitCode == 2, r.ToString());
        Assert.StartsWith("medlm: error:", r.Stderr, StringComparison.Ordinal);
        Assert.Contains(fragment, r.Stderr, StringComparison.Ordinal);
        Assert.Single(r.Stderr.Trim().Split('\n'));
    }

    [Fact]
    public void Write_auto_stores_the_best_setting_and_budget_auto_then_decodes_exactly_as_it()
    {
        string dir = Directory.CreateTempSubdirectory("medlm-auto-").FullName;
        try
        {
            foreach (string file in Directory.GetFiles(Cli.ModelFolder))
            {
                File.Copy(file, Path.Combine(dir, Path.GetFileName(file)));
            }
            string manifest = Path.Combine(dir, "medlm.json");
            JsonObject m = JsonNode.Parse(File.ReadAllText(manifest))!.AsObject();
            m["generation"]!.AsObject().Remove("auto");
            File.WriteAllText(manifest, m.ToJsonString());

            // Without a measured setting, budget auto is refused, naming what is missing.
            CliRun refused = Cli.Run(With(dir, "generate", Prompt, "--budget", "auto"));
            Assert.True(refused.ExitCode == 2, refused.ToString());
            Assert.Contains("generation.auto", refused.Stderr, StringComparison.Ordinal);

            CliRun eval = Cli.Run(With(dir, "eval", "--limit", "4", "--budgets", "1/8", "--setting", Threshold, "--setting", StageOne, "--write-auto", "--json"));
            Assert.True(eval.ExitCode == 0, eval.ToString());
            using var doc = JsonDocument.Parse(eval.Stdout);
            string chosen = doc.RootElement.GetProperty("auto").GetProperty("setting").GetString()!;
            // The rule: the highest accuracy over all items, then the fewest mean passes.
            JsonElement[] candidates = [.. Settings(doc).EnumerateArray().Where(s => s.GetProperty("mode").GetString() == "setting")];
            JsonElement best = candidates
                .OrderByDescending(s => s.GetProperty("all").GetDouble())
                .ThenBy(s => s.GetProperty("passes_mean").GetDouble())
                .First();
            Assert.Equal(best.GetProperty("setting").GetString(), chosen);

            JsonObject auto = JsonNode.Parse(File.ReadAllText(manifest))!["generation"]!["auto"]!.AsObject();
            Assert.Equal("threshold", (string?)auto["algorithm"]);
            Assert.Equal(0.9, (double)auto["threshold"]!);
            int rounds = (int)auto["edit_rounds"]!;
            Assert.Equal(chosen == Threshold ? 4 : 0, rounds);

            CliRun viaAuto = Cli.Run(With(dir, "generate", Prompt, "--budget", "auto", "--json"));
            CliRun spelled = Cli.Run(With(dir, "generate", Prompt, "--algorithm", "threshold", "--threshold", "0.9", "--edit-steps", $"{rounds}", "--json"));
            Assert.True(viaAuto.ExitCode == 0, viaAuto.ToString());
            Assert.True(spelled.ExitCode == 0, spelled.ToString());
            using var a = JsonDocument.Parse(viaAuto.Stdout);
            using var b = JsonDocument.Parse(spelled.Stdout);
            Assert.Equal(b.RootElement.GetProperty("token_ids").ToString(), a.RootElement.GetProperty("token_ids").ToString());
            Assert.Equal(b.RootElement.GetProperty("draft_token_ids").ToString(), a.RootElement.GetProperty("draft_token_ids").ToString());
            Assert.Equal(b.RootElement.GetProperty("stats").GetProperty("passes").GetInt32(), a.RootElement.GetProperty("stats").GetProperty("passes").GetInt32());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
