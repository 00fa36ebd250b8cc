using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.WebSockets;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace MeDlm.Server.Tests.Infrastructure;

/// <summary>
/// A real headless Chromium (Debian's <c>chromium</c>, or the binary MEDLM_CHROMIUM names) driven over the
/// DevTools protocol on a loopback WebSocket: one page, its console and exceptions collected. Nothing is
/// downloaded; a missing browser fails the test with the command that installs it.
/// </summary>
public sealed partial class HeadlessChromium : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _profile;
    private readonly ClientWebSocket _socket = new();
    private readonly ConcurrentDictionary<int, TaskCompletionSource<JsonElement>> _pending = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private Task _receiver = Task.CompletedTask;
    private int _nextId;
    private string? _session;

    private HeadlessChromium(Process process, string profile)
    {
        _process = process;
        _profile = profile;
    }

    /// <summary>Console messages of level error, uncaught exceptions and failed loads the page reported.</summary>
    public ConcurrentQueue<string> Errors { get; } = new();

    /// <summary>Every console message, as "level: text".</summary>
    public ConcurrentQueue<string> Console { get; } = new();

    /// <summary>The browser executable: MEDLM_CHROMIUM, else the first of Debian's names found on PATH.</summary>
    public static string? FindExecutable()
    {
        if (Environment.GetEnvironmentVariable("MEDLM_CHROMIUM") is { Length: > 0 } configured)
        {
            return configured;
        }
        foreach (string name in new[] { "chromium", "chromium-browser", "google-chrome" })
        {
            foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator))
            {
                string candidate = Path.Combine(dir, name);
                if (File.Exists(candidate))
                {
                    return candidate;
                }
            }
        }
        return null;
    }

    /// <summary>Starts the browser with a fresh profile and a <paramref name="width"/> x <paramref name="height"/> window, and opens one blank page.</summary>
    public static async Task<HeadlessChromium> StartAsync(int width = 1280, int height = 900)
    {
        string executable = FindExecutable()
            ?? throw new InvalidOperationException("Chromium is not installed: apt-get install chromium (or set MEDLM_CHROMIUM to a Chromium binary).");
        string profile = Path.Combine(Path.GetTempPath(), "medlm-chromium-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(profile);
        var start = new ProcessStartInfo(executable)
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (string arg in new[]
        {
            "--headless=new", "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1", "--user-data-dir=" + profile,
            // The sandbox needs user namespaces that CI containers (and root) lack; the page is our own.
            "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
            "--disable-extensions", "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-default-apps", "--mute-audio", "--hide-scrollbars", "--force-color-profile=srgb",
            $"--window-size={width},{height}", "about:blank",
        })
        {
            start.ArgumentList.Add(arg);
        }
        Process process = Process.Start(start) ?? throw new InvalidOperationException("Chromium did not start: " + executable);
        var browser = new HeadlessChromium(process, profile);
        try
        {
            _ = process.StandardOutput.BaseStream.CopyToAsync(Stream.Null);
            Uri endpoint = await ReadDevToolsEndpointAsync(process, TimeSpan.FromSeconds(60));
            await browser._socket.ConnectAsync(endpoint, CancellationToken.None);
            browser._receiver = Task.Run(browser.ReceiveLoopAsync);
            JsonElement target = await browser.SendAsync("Target.createTarget", new JsonObject { ["url"] = "about:blank" }, session: false);
            JsonElement attached = await browser.SendAsync("Target.attachToTarget",
                new JsonObject { ["targetId"] = target.GetProperty("targetId").GetString(), ["flatten"] = true }, session: false);
            browser._session = attached.GetProperty("sessionId").GetString();
            await browser.SendAsync("Runtime.enable");
            await browser.SendAsync("Log.enable");
            await browser.SendAsync("Page.enable");
            await browser.SetViewportAsync(width, height);
            return browser;
        }
        catch
        {
            await browser.DisposeAsync();
            throw;
        }
    }

    private static async Task<Uri> ReadDevToolsEndpointAsync(Process process, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var seen = new StringBuilder();
        while (true)
        {
            string? line = await process.StandardError.ReadLineAsync(cts.Token);
            if (line is null)
            {
                throw new InvalidOperationException($"Chromium exited before it opened DevTools (exit code {(process.WaitForExit(5000) ? process.ExitCode : -1)}): {seen}");
            }
            seen.AppendLine(line);
            Match m = DevToolsLine().Match(line);
            if (m.Success)
            {
                // Keep draining stderr so the browser never blocks on a full pipe.
                _ = process.StandardError.BaseStream.CopyToAsync(Stream.Null);
                return new Uri(m.Groups[1].Value);
            }
        }
    }

    [GeneratedRegex(@"DevTools listening on (ws://\S+)")]
    private static partial Regex DevToolsLine();

    /// <summary>Sends a DevTools command to the page (or the browser) and returns its result.</summary>
    public async Task<JsonElement> SendAsync(string method, JsonObject? parameters = null, bool session = true, TimeSpan? timeout = null)
    {
        int id = Interlocked.Increment(ref _nextId);
        var message = new JsonObject { ["id"] = id, ["method"] = method, ["params"] = parameters ?? new JsonObject() };
        if (session)
        {
            message["sessionId"] = _session;
        }
        var reply = new TaskCompletionSource<JsonElement>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = reply;
        byte[] bytes = Encoding.UTF8.GetBytes(message.ToJsonString());
        await _sendLock.WaitAsync();
        try
        {
            await _socket.SendAsync(bytes, WebSocketMessageType.Text, true, CancellationToken.None);
        }
        finally
        {
            _sendLock.Release();
        }
        return await reply.Task.WaitAsync(timeout ?? TimeSpan.FromSeconds(60));
    }

    private async Task ReceiveLoopAsync()
    {
        var buffer = new byte[1 << 16];
        using var message = new MemoryStream();
        try
        {
            while (_socket.State == WebSocketState.Open)
            {
                WebSocketReceiveResult r = await _socket.ReceiveAsync(buffer, _stop.Token);
                if (r.MessageType == WebSocketMessageType.Close)
                {
                    break;
                }
                message.Write(buffer, 0, r.Count);
                if (!r.EndOfMessage)
                {
                    continue;
                }
                using (JsonDocument doc = JsonDocument.Parse(message.GetBuffer().AsMemory(0, (int)message.Length)))
                {
                    Dispatch(doc.RootElement);
                }
                message.SetLength(0);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException)
        {
            // The browser closed or we are shutting down.
        }
        foreach (TaskCompletionSource<JsonElement> waiting in _pending.Values)
        {
            waiting.TrySetException(new InvalidOperationException("The DevTools connection closed."));
        }
    }

    private void Dispatch(JsonElement root)
    {
        if (root.TryGetProperty("id", out JsonElement idElement))
        {
            if (_pending.TryRemove(idElement.GetInt32(), out TaskCompletionSource<JsonElement>? reply))
            {
                if (root.TryGetProperty("error", out JsonElement error))
                {
                    reply.TrySetException(new InvalidOperationException("DevTools: " + error.GetRawText()));
                }
                else
                {
                    reply.TrySetResult(root.GetProperty("result").Clone());
                }
            }
            return;
        }
        string method = root.GetProperty("method").GetString() ?? "";
        JsonElement p = root.TryGetProperty("params", out JsonElement ps) ? ps : default;
        switch (method)
        {
            case "Runtime.consoleAPICalled":
            {
                string type = p.GetProperty("type").GetString() ?? "";
                string text = string.Join(" ", p.GetProperty("args").EnumerateArray().Select(a =>
                    a.TryGetProperty("value", out JsonElement v) ? v.ToString() : a.TryGetProperty("description", out JsonElement d) ? d.GetString() : a.GetRawText()));
                Console.Enqueue(type + ": " + text);
                if (type is "error" or "assert")
                {
                    Errors.Enqueue("console." + type + ": " + text);
                }
                break;
            }
            case "Runtime.exceptionThrown":
                Errors.Enqueue("exception: " + p.GetProperty("exceptionDetails").GetRawText());
                break;
            case "Log.entryAdded":
            {
                JsonElement entry = p.GetProperty("entry");
                string level = entry.GetProperty("level").GetString() ?? "";
                string text = entry.GetProperty("text").GetString() ?? "";
                Console.Enqueue("log." + level + ": " + text);
                if (level == "error")
                {
                    Errors.Enqueue("log: " + text + (entry.TryGetProperty("url", out JsonElement url) ? " (" + url.GetString() + ")" : ""));
                }
                break;
            }
        }
    }

    /// <summary>Emulates a viewport of <paramref name="width"/> x <paramref name="height"/> CSS pixels.</summary>
    public Task SetViewportAsync(int width, int height, bool mobile = false) => SendAsync("Emulation.setDeviceMetricsOverride", new JsonObject
    {
        ["width"] = width,
        ["height"] = height,
        ["deviceScaleFactor"] = 1,
        ["mobile"] = mobile,
    });

    /// <summary>Opens <paramref name="url"/> and waits for its load event.</summary>
    public async Task NavigateAsync(Uri url)
    {
        await SendAsync("Page.navigate", new JsonObject { ["url"] = url.ToString() });
        await WaitForAsync("document.readyState === 'complete'", TimeSpan.FromSeconds(30));
    }

    /// <summary>Evaluates <paramref name="expression"/> in the page (promises awaited) and returns its JSON value.</summary>
    public async Task<JsonElement> EvaluateAsync(string expression)
    {
        JsonElement r = await SendAsync("Runtime.evaluate", new JsonObject
        {
            ["expression"] = expression,
            ["returnByValue"] = true,
            ["awaitPromise"] = true,
        });
        if (r.TryGetProperty("exceptionDetails", out JsonElement error))
        {
            throw new InvalidOperationException($"The page threw evaluating {expression}: {error.GetRawText()}");
        }
        return r.GetProperty("result").TryGetProperty("value", out JsonElement value) ? value.Clone() : default;
    }

    /// <summary>Polls <paramref name="condition"/> (a JavaScript expression) until it is true.</summary>
    public async Task WaitForAsync(string condition, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            JsonElement v = await EvaluateAsync(condition);
            if (v.ValueKind == JsonValueKind.True)
            {
                return;
            }
            if (clock.Elapsed > timeout)
            {
                throw new TimeoutException($"The page did not reach `{condition}` within {timeout.TotalSeconds} s.");
            }
            await Task.Delay(50);
        }
    }

    /// <summary>Types <paramref name="text"/> into the focused element, as an input method would.</summary>
    public Task InsertTextAsync(string text) => SendAsync("Input.insertText", new JsonObject { ["text"] = text });

    /// <summary>Presses and releases a key (<c>Enter</c>, <c>ArrowRight</c>, <c>Tab</c>, ...) with optional modifiers (2 = Ctrl).</summary>
    public async Task PressKeyAsync(string key, int modifiers = 0)
    {
        (string code, int keyCode, string? text) = key switch
        {
            "Enter" => ("Enter", 13, "\r"),
            "Tab" => ("Tab", 9, null),
            "ArrowRight" => ("ArrowRight", 39, null),
            "ArrowLeft" => ("ArrowLeft", 37, null),
            "Home" => ("Home", 36, null),
            "End" => ("End", 35, null),
            " " => ("Space", 32, " "),
            _ => throw new ArgumentOutOfRangeException(nameof(key), key, "No key mapping."),
        };
        var down = new JsonObject
        {
            ["type"] = text is null || modifiers != 0 ? "rawKeyDown" : "keyDown",
            ["key"] = key,
            ["code"] = code,
            ["windowsVirtualKeyCode"] = keyCode,
            ["modifiers"] = modifiers,
        };
        if (text is not null && modifiers == 0)
        {
            down["text"] = text;
        }
        await SendAsync("Input.dispatchKeyEvent", down);
        await SendAsync("Input.dispatchKeyEvent", new JsonObject
        {
            ["type"] = "keyUp",
            ["key"] = key,
            ["code"] = code,
            ["windowsVirtualKeyCode"] = keyCode,
            ["modifiers"] = modifiers,
        });
    }

    /// <summary>A PNG of the whole page (not only the viewport), written to <paramref name="path"/>.</summary>
    public async Task ScreenshotAsync(string path)
    {
        JsonElement metrics = await SendAsync("Page.getLayoutMetrics");
        JsonElement size = metrics.GetProperty("cssContentSize");
        JsonElement shot = await SendAsync("Page.captureScreenshot", new JsonObject
        {
            ["format"] = "png",
            ["captureBeyondViewport"] = true,
            ["clip"] = new JsonObject
            {
                ["x"] = 0,
                ["y"] = 0,
                ["width"] = Math.Ceiling(size.GetProperty("width").GetDouble()),
                ["height"] = Math.Ceiling(size.GetProperty("height").GetDouble()),
                ["scale"] = 1,
            },
        });
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        await File.WriteAllBytesAsync(path, Convert.FromBase64String(shot.GetProperty("data").GetString()!));
    }

    /// <summary>Closes the browser and deletes its profile.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            if (_socket.State == WebSocketState.Open)
            {
                await SendAsync("Browser.close", session: false, timeout: TimeSpan.FromSeconds(5));
            }
        }
        catch (Exception e) when (e is InvalidOperationException or TimeoutException or WebSocketException)
        {
            // Closing anyway below.
        }
        await _stop.CancelAsync();
        try
        {
            await _receiver.WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (TimeoutException)
        {
            // The loop ends with the process.
        }
        if (!_process.WaitForExit(10_000))
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(10_000);
        }
        _process.Dispose();
        _socket.Dispose();
        _stop.Dispose();
        _sendLock.Dispose();
        try
        {
            Directory.Delete(_profile, recursive: true);
        }
        catch (IOException)
        {
            // A helper process may still hold a file; the temp folder is cleaned by the system.
        }
    }
}
