using System.Diagnostics;
using System.Text;
using MeDlm.Cli.Evaluation;
using MeDlm.Tests.Shared;

namespace MeDlm.Cli.Tests;

/// <summary>What one run of the tool printed.</summary>
public sealed record CliRun(int ExitCode, string Stdout, string Stderr)
{
    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Stdout}\n--- stderr\n{Stderr}";
}

/// <summary>Runs the built tool as a subprocess (<c>dotnet MeDlm.Cli.dll ...</c>), as a user would.</summary>
public static class Cli
{
    /// <summary>The repository root (the folder with MeDlm.sln above the test assembly).</summary>
    public static string RepoRoot => RepositoryRoot.Path;

    /// <summary>
    /// The model the end-to-end tests use: the bundled onnx/medlm-tiny, or MEDLM_CLI_TEST_MODEL for a
    /// development package. A missing package FAILS the tests: they are the proof that the tool works.
    /// </summary>
    public static string ModelFolder
    {
        get
        {
            string? over = Environment.GetEnvironmentVariable("MEDLM_CLI_TEST_MODEL");
            string folder = string.IsNullOrWhiteSpace(over) ? Path.Combine(RepoRoot, "onnx", "medlm-tiny") : Path.GetFullPath(over);
            foreach (string file in new[] { "medlm.json", "tokenizer.json", "denoiser.onnx", "heldout.jsonl" })
            {
                if (!File.Exists(Path.Combine(folder, file)))
                {
                    Assert.Fail($"The model package is incomplete: {Path.Combine(folder, file)} is missing (the CLI tests need the bundled onnx/medlm-tiny).");
                }
            }
            return folder;
        }
    }

    /// <summary>The tool's entry assembly: next to the tests (copied by the project reference), else in its own build output.</summary>
    public static string ToolDll { get; } = FindTool();

    public static CliRun Run(params string[] args) => RunIn(RepoRoot, TimeSpan.FromSeconds(150), args);

    public static CliRun RunIn(string workingDirectory, TimeSpan timeout, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = workingDirectory,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        psi.ArgumentList.Add(ToolDll);
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }
        ChildProcessRun run = ChildProcess.Run(psi, timeout);
        Assert.False(run.TimedOut, $"medlm {string.Join(' ', args)} did not finish within {timeout.TotalSeconds} s");
        return new CliRun(run.ExitCode, run.Stdout, run.Stderr);
    }

    private static string FindTool()
    {
        string local = Path.Combine(AppContext.BaseDirectory, "MeDlm.Cli.dll");
        if (File.Exists(local) && File.Exists(Path.Combine(AppContext.BaseDirectory, "MeDlm.Cli.runtimeconfig.json")))
        {
            return local;
        }
        // Same configuration and framework as this test assembly: bin/<Configuration>/<tfm>/.
        var tfm = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        string configuration = tfm.Parent!.Name;
        string built = Path.Combine(RepoRoot, "src", "MeDlm.Cli", "bin", configuration, tfm.Name, "MeDlm.Cli.dll");
        return File.Exists(built) ? built : throw new InvalidOperationException($"MeDlm.Cli.dll not found next to the tests or at {built}");
    }
}
