using System.Diagnostics;

namespace MeDlm.Cli.Evaluation;

/// <summary>Finds a python3 interpreter: the one given, else <c>python3</c> on PATH, else <c>/usr/bin/python3</c>.</summary>
internal static class PythonLocator
{
    /// <summary>The first candidate that runs <paramref name="probe"/> successfully (e.g. <c>import torch</c>), or null.</summary>
    public static string? Find(string? explicitPython, string probe, TimeSpan timeout)
    {
        string[] candidates = explicitPython is not null ? [explicitPython] : ["python3", "/usr/bin/python3"];
        foreach (string python in candidates)
        {
            if (Probe(python, probe, timeout))
            {
                return python;
            }
        }
        return null;
    }

    /// <summary>Whether <c>python -c probe</c> exits 0 within the timeout.</summary>
    public static bool Probe(string python, string probe, TimeSpan timeout)
    {
        var psi = new ProcessStartInfo(python);
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(probe);
        try
        {
            ChildProcessRun run = ChildProcess.Run(psi, timeout);
            return !run.TimedOut && run.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false; // not installed
        }
    }
}
