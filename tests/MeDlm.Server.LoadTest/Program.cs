using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace MeDlm.Server.LoadTest;

/// <summary>
/// Load run of the hosted worker, loopback only and bounded in count and time: starts the built server
/// as its own process on a free 127.0.0.1 port (or uses --url, which must be a loopback address), then
/// sends chat completions from 1, 8 and 32 concurrent clients and reports requests per second, p50/p99
/// latency, the batch sizes the scheduler reached (from its /metrics) and the server's memory before and
/// after all the requests (5,000 by default).
/// </summary>
public static class Program
{
    private static readonly int[] Concurrency = [1, 8, 32];

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    // Share of the requests each concurrency level sends: the slow single-client level gets the fewest.
    private static readonly double[] Share = [0.04, 0.26, 0.70];

    public static async Task<int> Main(string[] args)
    {
        Options o;
        try
        {
            o = Options.Parse(args);
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine("load test: " + e.Message);
            Console.Error.WriteLine(Options.Usage);
            return 2;
        }

        Process? server = null;
        Uri baseAddress;
        if (o.Url is { } url)
        {
            baseAddress = url;
        }
        else
        {
            int port = FreePort();
            baseAddress = new Uri($"http://127.0.0.1:{port}/");
            server = StartServer(o, port);
        }
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 64, PooledConnectionLifetime = TimeSpan.FromMinutes(10) })
        {
            BaseAddress = baseAddress,
            Timeout = TimeSpan.FromSeconds(120),
        };
        try
        {
            await WaitReadyAsync(http, server, TimeSpan.FromSeconds(120));
            string[] prompts = LoadPrompts(o.ModelPath);
            Console.WriteLine($"server {baseAddress} model {o.ModelPath}; {prompts.Length} prompts; max_tokens {(o.MaxTokens?.ToString(CultureInfo.InvariantCulture) ?? "model default")}; " +
                $"{o.TotalRequests} requests, at most {o.MaxSecondsPerLevel} s per level");

            // Warm-up (not counted): JIT, ONNX Runtime allocations, connection pool.
            await RunLevelAsync(http, prompts, o, clients: 4, requests: 16, TimeSpan.FromSeconds(60));
            Memory before = await ReadMemoryAsync(http, server);

            var results = new List<LevelResult>();
            int sent = 0;
            for (int i = 0; i < Concurrency.Length; i++)
            {
                int requests = i == Concurrency.Length - 1 ? o.TotalRequests - sent : (int)Math.Round(o.TotalRequests * Share[i]);
                Histogram batchesBefore = await ReadBatchHistogramAsync(http);
                LevelResult r = await RunLevelAsync(http, prompts, o, Concurrency[i], requests, TimeSpan.FromSeconds(o.MaxSecondsPerLevel));
                Histogram batchesAfter = await ReadBatchHistogramAsync(http);
                r = r with { Batches = batchesAfter.Minus(batchesBefore), MemoryAfter = await ReadMemoryAsync(http, server) };
                results.Add(r);
                sent += r.Completed + r.Failed;
                Console.WriteLine(r.Format());
            }
            Memory after = await ReadMemoryAsync(http, server);
            double maxBatch = await ReadGaugeAsync(http, "medlm_batch_size_max");

            Console.WriteLine();
            Console.WriteLine("| clients | requests | errors | req/s | p50 ms | p99 ms | mean batch | passes by batch size |");
            Console.WriteLine("|---:|---:|---:|---:|---:|---:|---:|---|");
            foreach (LevelResult r in results)
            {
                Console.WriteLine(r.FormatRow());
            }
            Console.WriteLine();
            Console.WriteLine($"largest batch: {maxBatch:F0}");
            Console.WriteLine($"requests sent: {sent}");
            Console.WriteLine($"server memory before: {before.Format()}");
            Console.WriteLine($"server memory after:  {after.Format()}");
            if (o.OutputJson is { } path)
            {
                await File.WriteAllTextAsync(path, JsonSerializer.Serialize(new
                {
                    server = baseAddress.ToString(),
                    model = o.ModelPath,
                    levels = results.Select(r => new { r.Clients, r.Completed, r.Failed, r.RequestsPerSecond, p50_ms = r.P50, p99_ms = r.P99, mean_batch = r.Batches.Mean, passes = r.Batches.Passes, batch_sizes = r.Batches.Counts, memory_after = r.MemoryAfter }),
                    largest_batch = maxBatch,
                    requests_sent = sent,
                    memory_before = before,
                    memory_after = after,
                }, Indented));
            }
            return results.All(r => r.Failed == 0) ? 0 : 1;
        }
        finally
        {
            if (server is not null)
            {
                StopServer(server);
            }
        }
    }

    private static Process StartServer(Options o, int port)
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "MeDlm.Server.dll");
        var info = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(dll);
        info.ArgumentList.Add($"--urls=http://127.0.0.1:{port}");
        info.ArgumentList.Add("--Model:Path=" + o.ModelPath);
        info.ArgumentList.Add("--Model:Device=" + o.Device);
        info.ArgumentList.Add("--Scheduler:MaxBatchSize=" + o.MaxBatchSize.ToString(CultureInfo.InvariantCulture));
        info.ArgumentList.Add("--Scheduler:QueueCapacity=256");
        info.ArgumentList.Add("--Logging:LogLevel:Default=Warning");
        var p = Process.Start(info) ?? throw new InvalidOperationException("Could not start the server.");
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) { Console.Error.WriteLine("[server] " + e.Data); } };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) { Console.Error.WriteLine("[server] " + e.Data); } };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return p;
    }

    private static void StopServer(Process server)
    {
        if (!server.HasExited)
        {
            server.Kill(entireProcessTree: true);
            server.WaitForExit(10_000);
        }
        server.Dispose();
    }

    private static async Task WaitReadyAsync(HttpClient http, Process? server, TimeSpan timeout)
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < timeout)
        {
            if (server is { HasExited: true })
            {
                throw new InvalidOperationException($"The server exited with code {server.ExitCode}.");
            }
            try
            {
                using HttpResponseMessage r = await http.GetAsync("health/ready");
                if (r.StatusCode == HttpStatusCode.OK)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            await Task.Delay(100);
        }
        throw new TimeoutException("The server did not become ready.");
    }

    /// <summary>The held-out prompts of the model package, as a client would send them.</summary>
    private static string[] LoadPrompts(string modelPath)
    {
        string file = Path.Combine(modelPath, "heldout.jsonl");
        if (!File.Exists(file))
        {
            return ["write add_k(items) with k = 13", "What is 17 + 25?", "write a function that reverses a list", "What is 9 * 7?"];
        }
        var prompts = new List<string>();
        foreach (string line in File.ReadLines(file))
        {
            if (line.Length > 0 && JsonDocument.Parse(line).RootElement.TryGetProperty("prompt", out JsonElement p) && p.GetString() is { Length: > 0 } s)
            {
                prompts.Add(s);
            }
        }
        return [.. prompts];
    }

    private static async Task<LevelResult> RunLevelAsync(HttpClient http, string[] prompts, Options o, int clients, int requests, TimeSpan maxTime)
    {
        var latencies = new double[requests];
        int next = -1;
        int failed = 0;
        var deadline = Stopwatch.StartNew();
        async Task Client()
        {
            while (deadline.Elapsed < maxTime)
            {
                int i = Interlocked.Increment(ref next);
                if (i >= requests)
                {
                    return;
                }
                string body = JsonSerializer.Serialize(new Dictionary<string, object?>
                {
                    ["model"] = null,
                    ["messages"] = new[] { new { role = "user", content = prompts[i % prompts.Length] } },
                    ["max_tokens"] = o.MaxTokens,
                });
                long t0 = Stopwatch.GetTimestamp();
                try
                {
                    using HttpResponseMessage r = await http.PostAsync("v1/chat/completions", new StringContent(body, Encoding.UTF8, "application/json"));
                    await r.Content.ReadAsByteArrayAsync();
                    if (r.StatusCode != HttpStatusCode.OK)
                    {
                        Interlocked.Increment(ref failed);
                        latencies[i] = double.NaN;
                        continue;
                    }
                }
                catch (HttpRequestException)
                {
                    Interlocked.Increment(ref failed);
                    latencies[i] = double.NaN;
                    continue;
                }
                latencies[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            }
        }
        await Task.WhenAll(Enumerable.Range(0, clients).Select(_ => Task.Run(Client)));
        double seconds = deadline.Elapsed.TotalSeconds;
        int issued = Math.Min(requests, next + 1);
        double[] ok = [.. latencies.Take(issued).Where(l => l > 0)];
        Array.Sort(ok);
        return new LevelResult(clients, ok.Length, failed, ok.Length / seconds, Percentile(ok, 0.50), Percentile(ok, 0.99), new Histogram([], 0, 0));
    }

    private static double Percentile(double[] sorted, double q) =>
        sorted.Length == 0 ? double.NaN : sorted[Math.Clamp((int)Math.Ceiling(q * sorted.Length) - 1, 0, sorted.Length - 1)];

    private static async Task<Histogram> ReadBatchHistogramAsync(HttpClient http)
    {
        string text = await http.GetStringAsync("metrics");
        var cumulative = new SortedDictionary<double, double>();
        foreach (string line in text.Split('\n'))
        {
            const string Prefix = "medlm_batch_size_bucket{le=\"";
            if (!line.StartsWith(Prefix, StringComparison.Ordinal))
            {
                continue;
            }
            int end = line.IndexOf('"', Prefix.Length);
            string le = line[Prefix.Length..end];
            double bound = le == "+Inf" ? double.PositiveInfinity : double.Parse(le, CultureInfo.InvariantCulture);
            cumulative[bound] = double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture);
        }
        double Sample(string name)
        {
            foreach (string line in text.Split('\n'))
            {
                if (line.StartsWith(name + " ", StringComparison.Ordinal))
                {
                    return double.Parse(line[(name.Length + 1)..], CultureInfo.InvariantCulture);
                }
            }
            return 0;
        }
        return new Histogram([.. cumulative.Select(kv => (kv.Key, kv.Value))], Sample("medlm_batch_size_sum"), Sample("medlm_batch_size_count"));
    }

    private static async Task<double> ReadGaugeAsync(HttpClient http, string name)
    {
        string text = await http.GetStringAsync("metrics");
        foreach (string line in text.Split('\n'))
        {
            if (line.StartsWith(name + " ", StringComparison.Ordinal))
            {
                return double.Parse(line[(name.Length + 1)..], CultureInfo.InvariantCulture);
            }
        }
        return double.NaN;
    }

    private static async Task<Memory> ReadMemoryAsync(HttpClient http, Process? server)
    {
        string text = await http.GetStringAsync("metrics");
        double Gauge(string name)
        {
            foreach (string line in text.Split('\n'))
            {
                if (line.StartsWith(name + " ", StringComparison.Ordinal))
                {
                    return double.Parse(line[(name.Length + 1)..], CultureInfo.InvariantCulture);
                }
            }
            return double.NaN;
        }
        long? rss = null;
        if (server is not null)
        {
            server.Refresh();
            rss = server.WorkingSet64;
        }
        return new Memory(rss ?? (long)Gauge("process_working_set_bytes"), (long)Gauge("process_private_memory_bytes"), (long)Gauge("dotnet_total_memory_bytes"));
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

/// <summary>One concurrency level's outcome.</summary>
internal sealed record LevelResult(int Clients, int Completed, int Failed, double RequestsPerSecond, double P50, double P99, Histogram Batches)
{
    /// <summary>The server's memory when the level ended (growth across levels shows a leak or a plateau).</summary>
    public Memory? MemoryAfter { get; init; }

    public string Format() => string.Create(CultureInfo.InvariantCulture,
        $"{Clients,2} clients: {Completed} ok, {Failed} failed, {RequestsPerSecond:F1} req/s, p50 {P50:F0} ms, p99 {P99:F0} ms, mean batch {Batches.Mean:F1}; server {MemoryAfter?.Format()}");

    public string FormatRow() => string.Create(CultureInfo.InvariantCulture,
        $"| {Clients} | {Completed} | {Failed} | {RequestsPerSecond:F1} | {P50:F0} | {P99:F0} | {Batches.Mean:F1} | {Batches.Describe()} |");
}

/// <summary>The server's batch-size histogram: sequences per forward pass (cumulative Prometheus buckets).</summary>
internal sealed record Histogram((double UpperBound, double Cumulative)[] Buckets, double Sum, double Count)
{
    /// <summary>Forward passes per bucket (not cumulative), keyed by the bucket's upper bound.</summary>
    public Dictionary<string, double> Counts
    {
        get
        {
            var counts = new Dictionary<string, double>();
            double previous = 0;
            foreach ((double bound, double cumulative) in Buckets)
            {
                counts[double.IsInfinity(bound) ? "+Inf" : bound.ToString(CultureInfo.InvariantCulture)] = cumulative - previous;
                previous = cumulative;
            }
            return counts;
        }
    }

    /// <summary>Forward passes run.</summary>
    public double Passes => Count;

    /// <summary>Mean sequences per forward pass.</summary>
    public double Mean => Count == 0 ? double.NaN : Sum / Count;

    public Histogram Minus(Histogram earlier) => new(
        [.. Buckets.Select(b => (b.UpperBound, b.Cumulative - earlier.Buckets.FirstOrDefault(e => e.UpperBound == b.UpperBound).Cumulative))],
        Sum - earlier.Sum, Count - earlier.Count);

    public string Describe() => string.Join(", ", Counts.Where(kv => kv.Value > 0).Select(kv => $"≤{kv.Key}: {kv.Value:F0}")) + $" ({Count:F0} passes)";
}

/// <summary>Server memory as the OS and the runtime see it.</summary>
internal sealed record Memory(long WorkingSetBytes, long PrivateBytes, long ManagedHeapBytes)
{
    public string Format() => string.Create(CultureInfo.InvariantCulture,
        $"working set {WorkingSetBytes / 1048576.0:F1} MiB, private {PrivateBytes / 1048576.0:F1} MiB, managed heap {ManagedHeapBytes / 1048576.0:F1} MiB");
}

/// <summary>Command-line options.</summary>
internal sealed record Options(string ModelPath, string Device, int TotalRequests, int MaxSecondsPerLevel, int? MaxTokens, int MaxBatchSize, Uri? Url, string? OutputJson)
{
    public const string Usage = "usage: MeDlm.Server.LoadTest [--model DIR] [--device cpu|cuda] [--requests N (5000)] [--max-seconds-per-level S (1200)] " +
        "[--max-tokens N] [--batch N (32)] [--url http://127.0.0.1:PORT/] [--json FILE]";

    public static Options Parse(string[] args)
    {
        string model = "onnx/medlm-tiny";
        string device = "cpu";
        int requests = 5000, seconds = 1200, batch = 32;
        int? maxTokens = null;
        Uri? url = null;
        string? json = null;
        for (int i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--model": model = Value(); break;
                case "--device": device = Value(); break;
                case "--requests": requests = Positive(Value(), "--requests"); break;
                case "--max-seconds-per-level": seconds = Positive(Value(), "--max-seconds-per-level"); break;
                case "--max-tokens": maxTokens = Positive(Value(), "--max-tokens"); break;
                case "--batch": batch = Positive(Value(), "--batch"); break;
                case "--json": json = Value(); break;
                case "--url":
                    url = new Uri(Value().TrimEnd('/') + "/");
                    // Load only ever goes to this machine.
                    if (!url.IsLoopback)
                    {
                        throw new ArgumentException($"--url {url} is not a loopback address");
                    }
                    break;
                default: throw new ArgumentException($"unknown argument {args[i]}");
            }
        }
        if (requests > 100_000 || seconds > 3600)
        {
            throw new ArgumentException("a load run is bounded: at most 100000 requests and 3600 s per level");
        }
        return new Options(Path.GetFullPath(model), device, requests, seconds, maxTokens, batch, url, json);
    }

    private static int Positive(string s, string name) =>
        int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) && v > 0 ? v : throw new ArgumentException($"{name} must be a positive integer");
}
