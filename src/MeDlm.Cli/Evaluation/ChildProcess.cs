using System.Diagnostics;

namespace MeDlm.Cli.Evaluation;

/// <summary>What a child process printed and how it exited; <see cref="TimedOut"/> when it was killed at the time limit.</summary>
internal sealed record ChildProcessRun(bool TimedOut, int ExitCode, string Stdout, string Stderr);

/// <summary>Runs a child process to completion with a time limit (the interpreter probes, and the CLI tests' runs of the tool).</summary>
internal static class ChildProcess
{
    /// <summary>
    /// Starts <paramref name="psi"/> with its output and error captured and its input closed at once, drains both
    /// pipes while it runs (so that a chatty child cannot block on a full pipe), and kills its whole process tree
    /// if it outlives <paramref name="timeout"/>. Throws <see cref="System.ComponentModel.Win32Exception"/> when the
    /// program cannot be started (not installed).
    /// </summary>
    public static ChildProcessRun Run(ProcessStartInfo psi, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(psi);
        psi.RedirectStandardOutput = true;
        psi.RedirectStandardError = true;
        psi.RedirectStandardInput = true;
        psi.UseShellExecute = false;
        using Process p = Process.Start(psi)!;
        p.StandardInput.Close();
        Task<string> o = p.StandardOutput.ReadToEndAsync();
        Task<string> e = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout))
        {
            p.Kill(entireProcessTree: true);
            return new ChildProcessRun(true, -1, "", "");
        }
        p.WaitForExit();
        return new ChildProcessRun(false, p.ExitCode, o.Result, e.Result);
    }
}
