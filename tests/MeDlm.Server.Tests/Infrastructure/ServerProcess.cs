using System.Diagnostics;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace MeDlm.Server.Tests.Infrastructure;

/// <summary>The built server run as a real process (<c>dotnet MeDlm.Server.dll</c>), for exit codes and signals.</summary>
public sealed partial class ServerProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();

    private ServerProcess(Process process, int port)
    {
        _process = process;
        Port = port;
        BaseAddress = new Uri($"http://127.0.0.1:{port}/");
    }

    /// <summary>The port it was told to listen on.</summary>
    public int Port { get; }

    /// <summary>http://127.0.0.1:port/</summary>
    public Uri BaseAddress { get; }

    /// <summary>Everything written to stdout so far.</summary>
    public string StandardOutput
    {
        get
        {
            lock (_stdout)
            {
                return _stdout.ToString();
            }
        }
    }

    /// <summary>Everything written to stderr so far.</summary>
    public string StandardError
    {
        get
        {
            lock (_stderr)
            {
                return _stderr.ToString();
            }
        }
    }

    /// <summary>Starts the server with <paramref name="settings"/> (<c>Key=Value</c>), on the test model unless they name another.</summary>
    public static ServerProcess Start(params string[] settings)
    {
        Assert.True(File.Exists(RepoPaths.ServerDll), $"{RepoPaths.ServerDll} is missing");
        int port = FreePort();
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = RepoPaths.RepoRoot,
        };
        info.ArgumentList.Add(RepoPaths.ServerDll);
        info.ArgumentList.Add($"--urls=http://127.0.0.1:{port}");
        if (!settings.Any(s => s.StartsWith("Model:Path=", StringComparison.Ordinal)))
        {
            info.ArgumentList.Add("--Model:Path=" + RepoPaths.ModelPackagePath);
        }
        foreach (string s in settings)
        {
            info.ArgumentList.Add("--" + s);
        }
        // Never under a service manager: plain console lifetime.
        info.Environment.Remove("INVOCATION_ID");
        info.Environment.Remove("NOTIFY_SOCKET");
        var process = new Process { StartInfo = info };
        var server = new ServerProcess(process, port);
        process.OutputDataReceived += (_, e) => server.Append(server._stdout, e.Data);
        process.ErrorDataReceived += (_, e) => server.Append(server._stderr, e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return server;
    }

    private void Append(StringBuilder sb, string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (sb)
        {
            sb.AppendLine(line);
        }
    }

    /// <summary>Polls /health/ready until 200.</summary>
    public async Task WaitReadyAsync(HttpClient http, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (true)
        {
            Assert.False(_process.HasExited, $"The server exited with {(_process.HasExited ? _process.ExitCode : 0)}: {StandardError}");
            try
            {
                using HttpResponseMessage r = await http.GetAsync(new Uri(BaseAddress, "health/ready"), cts.Token);
                if (r.StatusCode == HttpStatusCode.OK)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            await Task.Delay(100, cts.Token);
        }
    }

    /// <summary>Sends SIGTERM, as systemd and Kubernetes do.</summary>
    public void Terminate()
    {
        Assert.True(OperatingSystem.IsLinux() || OperatingSystem.IsMacOS(), "SIGTERM needs a Unix system");
        Assert.Equal(0, Kill(_process.Id, 15));
    }

    /// <summary>Waits for the exit; returns the exit code.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cts.Token);
        return _process.ExitCode;
    }

    /// <summary>Kills the process if it still runs.</summary>
    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(10_000);
        }
        _process.Dispose();
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
