using System.Diagnostics;

namespace MeDlm.Cli.Evaluation;

/// <summary>
/// Runs generated programs in python3 subprocesses, evalplus style: each program in its own forked process
/// with a time limit (a hang, a crash or <c>os._exit</c> fails only that program), several runners in
/// parallel bounded by the cores. A program passes when it runs to the end without an exception.
/// </summary>
internal sealed class CodeRunner(string python, TimeSpan timeout, int parallel)
{
    // Reads [[k, source], ...] on stdin and writes "k ok" lines. Each program runs in a forked child with a
    // wall-clock limit, stdout/stderr silenced and a memory cap; without fork (Windows) it runs in process
    // under an interval timer.
    private const string RunnerSource = """
import json, os, sys, select, signal
jobs = json.loads(sys.stdin.read())
timeout = float(sys.argv[1])
out = os.fdopen(os.dup(1), "w")
null = os.open(os.devnull, os.O_RDWR)
os.dup2(null, 0); os.dup2(null, 1); os.dup2(null, 2)

def run(src):
    exec(compile(src, "<answer>", "exec"), {"__name__": "__answer__"})

def in_child(src):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        ok = b"0"
        try:
            try:
                import resource
                cap = 4 << 30
                resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
            except Exception:
                pass
            run(src)
            ok = b"1"
        except BaseException:
            pass
        try:
            os.write(w, ok)
        finally:
            os._exit(0)
    os.close(w)
    ready = select.select([r], [], [], timeout)[0]
    ok = bool(ready) and os.read(r, 1) == b"1"
    if not ready:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    os.waitpid(pid, 0)
    os.close(r)
    return ok

class Timeout(BaseException):
    pass

def in_process(src):
    def alarm(*_):
        raise Timeout()
    try:
        if hasattr(signal, "setitimer"):
            signal.signal(signal.SIGALRM, alarm)
            signal.setitimer(signal.ITIMER_REAL, timeout)
        run(src)
        return True
    except BaseException:
        return False
    finally:
        if hasattr(signal, "setitimer"):
            signal.setitimer(signal.ITIMER_REAL, 0)

for k, src in jobs:
    ok = in_child(src) if hasattr(os, "fork") else in_process(src)
    out.write("%d %d\n" % (k, 1 if ok else 0))
    out.flush()
""";

    /// <summary>Runs every program; true where it passed. <paramref name="onDone"/> is called once per finished program.</summary>
    public async Task<bool[]> RunAsync(IReadOnlyList<string> programs, Action? onDone, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(programs);
        bool[] passed = new bool[programs.Count];
        if (programs.Count == 0)
        {
            return passed;
        }
        int workers = Math.Clamp(parallel, 1, programs.Count);
        string workDir = Directory.CreateTempSubdirectory("medlm-eval-").FullName;
        try
        {
            var tasks = new Task[workers];
            for (int w = 0; w < workers; w++)
            {
                // Interleaved shares keep the workers' loads even when long programs cluster.
                var share = new List<int>();
                for (int k = w; k < programs.Count; k += workers)
                {
                    share.Add(k);
                }
                tasks[w] = RunShareAsync(programs, share, passed, workDir, onDone, ct);
            }
            await Task.WhenAll(tasks).ConfigureAwait(false);
        }
        finally
        {
            try
            {
                Directory.Delete(workDir, recursive: true);
            }
            catch (IOException)
            {
                // A program may have left a file open; the temp folder is the OS's to clean.
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
        return passed;
    }

    private async Task RunShareAsync(IReadOnlyList<string> programs, List<int> share, bool[] passed, string workDir, Action? onDone,
        CancellationToken ct)
    {
        var psi = new ProcessStartInfo(python)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workDir,
            StandardInputEncoding = new UTF8Encoding(false),
            StandardOutputEncoding = Encoding.UTF8,
        };
        psi.ArgumentList.Add("-I"); // isolated: no user site, no PYTHON* variables
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(RunnerSource);
        psi.ArgumentList.Add(timeout.TotalSeconds.ToString(CultureInfo.InvariantCulture));

        using Process process = Process.Start(psi) ?? throw new CliException($"cannot start {python}");
        Task<string> errors = process.StandardError.ReadToEndAsync(ct);
        using (var buffer = new MemoryStream())
        {
            using (var w = new Utf8JsonWriter(buffer))
            {
                w.WriteStartArray();
                foreach (int k in share)
                {
                    w.WriteStartArray();
                    w.WriteNumberValue(k);
                    w.WriteStringValue(programs[k]);
                    w.WriteEndArray();
                }
                w.WriteEndArray();
            }
            await process.StandardInput.BaseStream.WriteAsync(buffer.GetBuffer().AsMemory(0, (int)buffer.Length), ct).ConfigureAwait(false);
        }
        process.StandardInput.Close();

        // The runner enforces each program's limit itself; this is the backstop if the runner itself stalls.
        using var stall = CancellationTokenSource.CreateLinkedTokenSource(ct);
        stall.CancelAfter((timeout * share.Count) + TimeSpan.FromSeconds(30));
        try
        {
            while (await process.StandardOutput.ReadLineAsync(stall.Token).ConfigureAwait(false) is { } line)
            {
                int space = line.IndexOf(' ', StringComparison.Ordinal);
                if (space > 0 && int.TryParse(line.AsSpan(0, space), CultureInfo.InvariantCulture, out int k) && (uint)k < (uint)passed.Length)
                {
                    passed[k] = line.AsSpan(space + 1).Trim() is "1";
                    onDone?.Invoke();
                }
            }
            await process.WaitForExitAsync(stall.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            if (ct.IsCancellationRequested)
            {
                throw;
            }
            // Stalled runner: the programs it did not report stay failed.
        }
        if (process.HasExited && process.ExitCode != 0)
        {
            string err = await errors.ConfigureAwait(false);
            throw new CliException($"the python3 test runner failed (exit {process.ExitCode}): {LastLine(err)}");
        }
    }

    private static string LastLine(string text)
    {
        string[] lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return lines.Length == 0 ? "no message" : lines[^1];
    }
}
