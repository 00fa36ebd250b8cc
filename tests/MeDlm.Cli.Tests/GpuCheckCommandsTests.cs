using System.Text.Json;
using System.Text.Json.Nodes;

namespace MeDlm.Cli.Tests;

/// <summary>
/// The commands tests/gpu/run.sh runs on the GPU machine, on the CPU here: `medlm golden` (the decoder golden
/// cases, token for token), `medlm forward` (bare ONNX Runtime passes, model FLOPs and utilisation) and
/// `medlm bench --bare-forward` (host bytes per position per pass, a MeDlm step against the bare forward).
/// </summary>
public sealed class GpuCheckCommandsTests
{
    private static string GoldenFile => Path.Combine(Cli.RepoRoot, "tests", "golden", "medlm-tiny", "decoders.json");

    [Fact]
    public void Golden_runs_every_case_token_identical_on_the_cpu_and_writes_the_responses()
    {
        string outFile = Path.Combine(Path.GetTempPath(), $"medlm-golden-{Guid.NewGuid():N}.json");
        try
        {
            CliRun r = Cli.RunIn(Cli.RepoRoot, TimeSpan.FromSeconds(300), "golden", GoldenFile, "--model", Cli.ModelFolder, "--out", outFile);
            Assert.True(r.ExitCode == 0, r.ToString());
            using var golden = JsonDocument.Parse(File.ReadAllBytes(GoldenFile));
            int cases = golden.RootElement.GetProperty("cases").GetArrayLength();
            Assert.Contains($"{cases}/{cases} cases token-identical", r.Stdout, StringComparison.Ordinal);
            Assert.DoesNotContain("MISMATCH", r.Stdout, StringComparison.Ordinal);
            using var written = JsonDocument.Parse(File.ReadAllBytes(outFile));
            JsonElement first = golden.RootElement.GetProperty("cases")[0];
            JsonElement rows = written.RootElement.GetProperty("cases").GetProperty(first.GetProperty("name").GetString()!);
            Assert.Equal(first.GetProperty("rows")[0].GetProperty("response").GetRawText().Replace(" ", "", StringComparison.Ordinal),
                rows[0].GetRawText());
        }
        finally
        {
            File.Delete(outFile);
        }
    }

    [Fact]
    public void Golden_reports_a_changed_reference_token_and_exits_1()
    {
        var root = JsonNode.Parse(File.ReadAllText(GoldenFile))!.AsObject();
        var cases = new JsonArray();
        JsonNode c = root["cases"]![4]!.DeepClone(); // medlm_mask_only_12: short to run
        JsonArray response = c["rows"]![0]!["response"]!.AsArray();
        response[0] = response[0]!.GetValue<int>() == 5 ? 6 : 5;
        cases.Add(c);
        root["cases"] = cases;
        string file = Path.Combine(Path.GetTempPath(), $"medlm-golden-bad-{Guid.NewGuid():N}.json");
        File.WriteAllText(file, root.ToJsonString());
        try
        {
            CliRun r = Cli.Run("golden", file, "--model", Cli.ModelFolder);
            Assert.True(r.ExitCode == 1, r.ToString());
            Assert.Contains("MISMATCH medlm_mask_only_12: row 0: response differs", r.Stdout, StringComparison.Ordinal);
            Assert.Contains("0/1 cases token-identical", r.Stdout, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void Golden_names_a_file_that_is_not_a_golden_file()
    {
        string file = Path.Combine(Path.GetTempPath(), $"medlm-golden-empty-{Guid.NewGuid():N}.json");
        File.WriteAllText(file, "{\"name\": \"x\"}");
        try
        {
            CliRun r = Cli.Run("golden", file, "--model", Cli.ModelFolder);
            Assert.True(r.ExitCode == 1, r.ToString());
            Assert.Contains("not a decoder golden file (no \"cases\")", r.Stderr + r.Stdout, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void Forward_times_each_batch_size_and_reports_flops_and_utilisation()
    {
        CliRun r = Cli.Run("forward", "--model", Cli.ModelFolder, "--batch", "1,2", "--seq", "32", "--passes", "2", "--warmup", "1",
            "--edit-head", "--peak-tflops", "1", "--json");
        Assert.True(r.ExitCode == 0, r.ToString());
        using var doc = JsonDocument.Parse(r.Stdout);
        JsonElement runs = doc.RootElement.GetProperty("runs");
        Assert.Equal(2, runs.GetArrayLength());
        Assert.Equal(32, doc.RootElement.GetProperty("seq").GetInt32());
        double flops1 = runs[0].GetProperty("tflop_per_pass").GetDouble();
        double flops2 = runs[1].GetProperty("tflop_per_pass").GetDouble();
        Assert.True(flops1 > 0 && Math.Abs((flops2 / flops1) - 2) < 1e-9, $"FLOPs scale with the batch: {flops1} then {flops2}");
        foreach (JsonElement run in runs.EnumerateArray())
        {
            Assert.True(run.GetProperty("denoiser_seconds").GetDouble() > 0);
            Assert.True(run.GetProperty("edit_head_seconds").GetDouble() > 0);
            Assert.InRange(run.GetProperty("mfu").GetDouble(), 1e-9, 1.0);
        }
    }

    [Fact]
    public void Forward_refuses_a_length_past_the_context()
    {
        CliRun r = Cli.Run("forward", "--model", Cli.ModelFolder, "--seq", "100000");
        Assert.True(r.ExitCode == 2, r.ToString());
        Assert.Contains("exceeds the model's max_sequence_length", r.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Bench_reports_host_bytes_and_the_bare_forward_ratio()
    {
        CliRun r = Cli.Run("bench", "--model", Cli.ModelFolder, "--no-reference", "-n", "2", "--batch-size", "1", "--warmup", "0",
            "--bare-forward", "--shape-bucket", "64", "--json");
        Assert.True(r.ExitCode == 0, r.ToString());
        using var doc = JsonDocument.Parse(r.Stdout);
        JsonElement bytes = doc.RootElement.GetProperty("host_bytes_per_position");
        Assert.Equal(16, bytes.GetProperty("inputs").GetInt32());
        Assert.Equal(4 * 593, bytes.GetProperty("denoiser").GetInt32());
        Assert.Equal(4 * 593, bytes.GetProperty("edit_head").GetInt32());
        Assert.Equal(64, doc.RootElement.GetProperty("shape_bucket").GetInt32());
        JsonElement bare = doc.RootElement.GetProperty("bare_forward");
        Assert.Equal(0, bare.GetProperty("seq").GetInt32() % 64);
        Assert.True(bare.GetProperty("ratio").GetDouble() > 0);
    }
}
