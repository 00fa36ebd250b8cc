using System.Text.Json;

namespace MeDlm.Cli.Tests;

/// <summary>The tool on the tiny Dream-layout package (tests/fixtures/packages/tiny-dream): its flags, and usage errors.</summary>
public sealed class DreamCliTests
{
    private static string DreamFolder => Path.Combine(Cli.RepoRoot, "tests", "fixtures", "packages", "tiny-dream");

    private static string GoldenPath => Path.Combine(Cli.RepoRoot, "tests", "golden", "tiny-dream", "decoders.json");

    [Fact]
    public void Generate_on_a_Dream_package_gives_the_reference_tokens()
    {
        // Golden case dream_entropy_top_p, row 2: the raw prompt "def f", 10 steps, top-p 0.9.
        using var golden = JsonDocument.Parse(File.ReadAllBytes(GoldenPath));
        JsonElement row = default;
        foreach (JsonElement c in golden.RootElement.GetProperty("cases").EnumerateArray())
        {
            if (c.GetProperty("name").GetString() == "dream_entropy_top_p")
            {
                row = c.GetProperty("rows")[2];
            }
        }
        Assert.Equal("def f", row.GetProperty("prompt").GetString());
        CliRun r = Cli.Run("generate", "def f", "--raw", "--model", DreamFolder, "--algorithm", "entropy", "--mask-steps", "10",
            "--top-p", "0.9", "--gen-length", "32", "--json");
        Assert.True(r.ExitCode == 0, r.ToString());
        using var doc = JsonDocument.Parse(r.Stdout);
        int[] got = [.. doc.RootElement.GetProperty("token_ids").EnumerateArray().Select(e => e.GetInt32())];
        int[] want = [.. row.GetProperty("response").EnumerateArray().Select(e => e.GetInt32())];
        Assert.Equal(want, got);
        Assert.Equal(10, doc.RootElement.GetProperty("stats").GetProperty("mask_passes").GetInt32());
    }

    [Fact]
    public void Sampling_flags_run_and_the_manifest_defaults_apply()
    {
        CliRun sampled = Cli.Run("generate", "write sum_gt(xs) with k = 9", "--model", DreamFolder, "--algorithm", "maskgit-plus",
            "--temperature", "0.8", "--top-k", "5", "--alg-temp", "0.5", "--seed", "7", "--json");
        Assert.True(sampled.ExitCode == 0, sampled.ToString());
        CliRun defaults = Cli.Run("generate", "write sum_gt(xs) with k = 9", "--model", DreamFolder, "--json");
        Assert.True(defaults.ExitCode == 0, defaults.ToString());
        using var doc = JsonDocument.Parse(defaults.Stdout);
        // tiny-dream's manifest: gen_length 32, budget 0.5 -> 16 steps of maskgit_plus.
        Assert.Equal(16, doc.RootElement.GetProperty("stats").GetProperty("mask_passes").GetInt32());
    }

    [Theory]
    [InlineData("dream", "--edit-steps", "2", "no edit head")]
    [InlineData("dream", "--algorithm", "low-confidence", "Dream package")]
    [InlineData("dream", "--cfg", "0.5", "LLaDA")]
    [InlineData("dream", "--block-length", "8", "one block")]
    [InlineData("bundled", "--top-p", "0.9", "Dream settings")]
    [InlineData("bundled", "--algorithm", "entropy", "Dream package")]
    public void Settings_that_do_not_fit_the_model_are_usage_errors(string model, string flag, string value, string message)
    {
        string folder = model == "dream" ? DreamFolder : Cli.ModelFolder;
        CliRun r = Cli.Run("generate", "hi", "--model", folder, flag, value);
        Assert.True(r.ExitCode != 0, r.ToString());
        Assert.Contains(message, r.Stderr);
        Assert.Equal("", r.Stdout);
    }
}
