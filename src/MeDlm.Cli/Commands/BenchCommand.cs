using System.Diagnostics;
using MeDlm.Cli.Evaluation;
using MeDlm.Cli.Rendering;
using Spectre.Console;

namespace MeDlm.Cli.Commands;

internal sealed class BenchSettings : SetSettings
{
    [CommandOption("--prompts <FILE>")]
    [Description("JSON-lines file with a \"prompt\" field per line (default: the model package's heldout.jsonl)")]
    public string? Prompts { get; set; }

    [CommandOption("-n|--count <N>")]
    [Description("Prompts to run (the first N)")]
    [DefaultValue(64)]
    public int Count { get; set; } = 64;

    [CommandOption("--warmup <N>")]
    [Description("Untimed batches first (session and buffer warm-up)")]
    [DefaultValue(1)]
    public int Warmup { get; set; } = 1;

    [CommandOption("--no-reference")]
    [Description("Skip the PyTorch reference run")]
    public bool NoReference { get; set; }

    [CommandOption("--bare-forward")]
    [Description("Also time a bare ONNX Runtime forward (InferenceSession.Run, outputs returned by ONNX Runtime) at the first batch's shape, and compare a MeDlm step with it")]
    public bool BareForward { get; set; }

    protected override int DefaultBatchSize => 8;

    public override ValidationResult Validate() => Checks.First(base.Validate(),
        Checks.Require(Count > 0, $"--count must be positive (got {Count})"),
        Checks.Require(Warmup >= 0, $"--warmup must be >= 0 (got {Warmup})"));
}

/// <summary>
/// <c>medlm bench</c>: end-to-end throughput of the runtime on a prompt set, and in the same invocation the
/// PyTorch reference decoders (export/bench_reference.py) on the same package, prompt ids and settings.
/// </summary>
internal sealed class BenchCommand : AsyncCommand<BenchSettings>
{
    private sealed record Measure(double Seconds, long Tokens, long Passes, double OutsideShare, int Threads)
    {
        /// <summary>Lockstep batch passes (each counted once, whatever its rows); 0 for the reference.</summary>
        public long BatchPasses { get; init; }

        public double TokensPerSecond => Seconds > 0 ? Tokens / Seconds : 0;

        public double PassesPerSecond => Seconds > 0 ? Passes / Seconds : 0;

        public double TokensPerPass => Passes > 0 ? (double)Tokens / Passes : 0;
    }

    public override async Task<int> ExecuteAsync(CommandContext context, BenchSettings settings, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(settings);
        using ModelPackage package = Runtime.Load(settings);
        string promptFile = settings.Prompts is null ? Path.Combine(package.Folder, "heldout.jsonl") : Path.GetFullPath(settings.Prompts);
        using var generator = new Generator(package);
        // Each prompt is planned once: the C# run and the reference get the same ids and settings.
        List<GenerationPlan> plans = ReadPrompts(generator, settings, promptFile);
        var prompts = new List<int[]>(plans.Count);
        foreach (GenerationPlan plan in plans)
        {
            prompts.Add([.. plan.PromptTokenIds]);
        }
        var results = new GenerationResult[plans.Count];
        Measure cs = await ProgressBars.RunAsync("C# runtime", plans.Count + ((double)settings.Warmup * Math.Min(settings.Batch, plans.Count)),
            bar => Task.FromResult(RunCSharp(generator, settings, plans, results, bar, cancellationToken))).ConfigureAwait(false);
        GenerationPlan resolved = plans[0];
        int maskSteps = results[0].Stats.MaskPasses;
        int editSteps = results[0].Stats.PlannedEditRounds;

        (JsonElement? reference, string? note) = settings.NoReference
            ? (null, "reference: skipped (--no-reference)")
            : await RunReference(package, settings, resolved, maskSteps, editSteps, prompts, cancellationToken).ConfigureAwait(false);

        Measure? py = null;
        int identical = 0;
        if (reference is { } refJson)
        {
            // The reference's answers are counted by the same rule as ours (AnswerText.AnswerLength).
            long referenceTokens = 0;
            int k = 0;
            foreach (JsonElement resp in refJson.GetProperty("responses").EnumerateArray())
            {
                int[] ids = ReadIds(resp);
                referenceTokens += AnswerText.AnswerLength(ids, package.Manifest.SpecialTokens);
                if (k < results.Length && results[k].TokenIds.SequenceEqual(ids))
                {
                    identical++;
                }
                k++;
            }
            py = new Measure(refJson.GetProperty("seconds").GetDouble(), referenceTokens,
                refJson.GetProperty("passes").GetInt64(), double.NaN, refJson.GetProperty("threads").GetInt32());
        }

        ForwardTimingResult? bare = settings.BareForward ? BareForward(generator, settings, plans, results[0], cancellationToken) : null;
        string settingsText = SettingsText(resolved, maskSteps, editSteps);
        if (settings.Json)
        {
            WriteJson(generator, settings, promptFile, prompts.Count, resolved, maskSteps, editSteps, cs, py, identical, note, bare, results[0]);
            return ExitCodes.Ok;
        }
        var o = Console.Out;
        o.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"medlm bench · {package.Manifest.Name} on {package.ExecutionProvider.ToString().ToLowerInvariant()} · {prompts.Count} prompts ({Path.GetFileName(promptFile)}), batch {settings.Batch}, warmup {settings.Warmup} · {settingsText}"));
        o.WriteLine(Row("C# (ONNX Runtime)", cs, showShare: true));
        o.WriteLine(HostBytesText(generator));
        if (bare is { } b)
        {
            o.WriteLine(BareText(b, cs, results[0]));
        }
        if (py is not null)
        {
            o.WriteLine(Row("PyTorch reference", py, showShare: false));
            double ratio = py.TokensPerSecond > 0 ? cs.TokensPerSecond / py.TokensPerSecond : double.NaN;
            o.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"speed ratio (C# / PyTorch tokens/s): {ratio:0.00}x · responses token-identical: {(identical == prompts.Count ? "yes" : "no")} ({identical}/{prompts.Count})"));
        }
        if (note is not null)
        {
            o.WriteLine(note);
        }
        return ExitCodes.Ok;
    }

    private static List<GenerationPlan> ReadPrompts(Generator generator, BenchSettings settings, string file)
    {
        if (!File.Exists(file))
        {
            throw new CliException($"{file}: prompt file not found");
        }
        var prompts = new List<GenerationPlan>();
        int lineNo = 0;
        foreach (string line in File.ReadLines(file))
        {
            lineNo++;
            if (prompts.Count >= settings.Count)
            {
                break;
            }
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }
            string prompt;
            try
            {
                using var doc = JsonDocument.Parse(line);
                if (doc.RootElement.ValueKind != JsonValueKind.Object)
                {
                    throw new CliException($"{file}: line {lineNo}: must be a JSON object with a \"prompt\" string field");
                }
                prompt = doc.RootElement.TryGetProperty("prompt", out JsonElement p) && p.ValueKind == JsonValueKind.String
                    ? p.GetString()!
                    : throw new CliException($"{file}: line {lineNo}: no \"prompt\" string field");
            }
            catch (JsonException e)
            {
                throw new CliException($"{file}: line {lineNo}: not JSON ({e.Message})");
            }
            catch (InvalidOperationException)
            {
                // GetString on an escape of half a surrogate pair (\ud800 alone): valid JSON, but no text.
                throw new CliException($"{file}: line {lineNo}: field 'prompt' holds an unpaired UTF-16 surrogate escape (such as \\ud800 without its pair)");
            }
            prompts.Add(Runtime.Checked(() => generator.Plan(Runtime.Request(settings, prompt: prompt))));
        }
        if (prompts.Count == 0)
        {
            throw new CliException($"{file}: no prompts");
        }
        return prompts;
    }

    private static Measure RunCSharp(Generator generator, BenchSettings s, List<GenerationPlan> requests, GenerationResult[] results,
        IProgressBar bar, CancellationToken ct)
    {
        int first = Math.Min(s.Batch, requests.Count);
        for (int w = 0; w < s.Warmup; w++)
        {
            Runtime.Checked(() => generator.GenerateBatch(requests.GetRange(0, first), ct));
            bar.Increment(first);
        }
        double seconds = 0;
        double ortSeconds = 0;
        long tokens = 0;
        long passes = 0;
        long batchPasses = 0;
        for (int start = 0; start < requests.Count; start += s.Batch)
        {
            List<GenerationPlan> batch = requests.GetRange(start, Math.Min(s.Batch, requests.Count - start));
            long t0 = Stopwatch.GetTimestamp();
            IReadOnlyList<GenerationResult> rs = Runtime.Checked(() => generator.GenerateBatch(batch, ct));
            seconds += Stopwatch.GetElapsedTime(t0).TotalSeconds;
            // A row's model time covers the batch passes it took part in; the longest row took part in all.
            double batchOrt = 0;
            int longest = 0;
            for (int k = 0; k < rs.Count; k++)
            {
                longest = Math.Max(longest, rs[k].Stats.TotalPasses);
                results[start + k] = rs[k];
                batchOrt = Math.Max(batchOrt, rs[k].Stats.ModelTime.TotalSeconds);
                tokens += rs[k].AnswerLength;
                passes += rs[k].Stats.TotalPasses;
            }
            ortSeconds += batchOrt;
            batchPasses += longest;
            bar.Increment(batch.Count);
        }
        double share = seconds > 0 ? Math.Clamp(1 - (ortSeconds / seconds), 0, 1) : 0;
        return new Measure(seconds, tokens, passes, share, s.Threads) { BatchPasses = batchPasses };
    }

    /// <summary>Runs export/bench_reference.py on the same prompt ids and settings; null and a one-line reason when it cannot.</summary>
    private static async Task<(JsonElement? Result, string? Note)> RunReference(ModelPackage package, BenchSettings s, GenerationPlan r,
        int maskSteps, int editSteps, List<int[]> prompts, CancellationToken ct)
    {
        string? script = ModelLocator.FindRepoFile(Path.Combine("export", "bench_reference.py"), package.Folder);
        if (script is null)
        {
            return (null, "reference: export/bench_reference.py not found (run inside the MeDlm repository); C# numbers only");
        }
        if (r.Algorithm != DecodingAlgorithm.MeDlm && editSteps > 0)
        {
            return (null, $"reference: bench_reference.py runs {DecodingAlgorithms.Name(r.Algorithm)} without edit rounds; pass --edit-steps 0 to compare; C# numbers only");
        }
        string? python = PythonLocator.Find(s.Python, "import torch", TimeSpan.FromSeconds(120));
        if (python is null)
        {
            return (null, s.Python is null
                ? "reference: python3 with torch not found (tried python3 and /usr/bin/python3); C# numbers only"
                : $"reference: python3 with torch not found ({s.Python} cannot import torch); C# numbers only");
        }

        string requestFile = Path.Combine(Path.GetTempPath(), $"medlm-bench-{Environment.ProcessId}-{Guid.NewGuid():N}.json");
        try
        {
            await File.WriteAllBytesAsync(requestFile, ReferenceRequest(s, r, maskSteps, editSteps, prompts), ct).ConfigureAwait(false);
            var psi = new ProcessStartInfo(python)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
                StandardOutputEncoding = Encoding.UTF8,
            };
            psi.ArgumentList.Add(script);
            psi.ArgumentList.Add("--package");
            psi.ArgumentList.Add(package.Folder);
            psi.ArgumentList.Add("--requests");
            psi.ArgumentList.Add(requestFile);
            if (s.Threads > 0)
            {
                psi.ArgumentList.Add("--threads");
                psi.ArgumentList.Add(s.Threads.ToString(CultureInfo.InvariantCulture));
            }
            (int exit, string stdout, string stderr) = await ProgressBars.RunAsync("PyTorch reference", 1, async bar =>
            {
                using Process p = Process.Start(psi) ?? throw new CliException($"cannot start {python}");
                Task<string> o = p.StandardOutput.ReadToEndAsync(ct);
                Task<string> e = p.StandardError.ReadToEndAsync(ct);
                try
                {
                    await p.WaitForExitAsync(ct).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    p.Kill(entireProcessTree: true);
                    throw;
                }
                bar.Increment(1);
                return (p.ExitCode, await o.ConfigureAwait(false), await e.ConfigureAwait(false));
            }).ConfigureAwait(false);
            if (exit != 0)
            {
                return (null, $"reference: bench_reference.py failed (exit {exit}): {LastLine(stderr)}; C# numbers only");
            }
            string? json = null;
            foreach (string line in stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                if (line.StartsWith('{'))
                {
                    json = line;
                }
            }
            if (json is null)
            {
                return (null, "reference: bench_reference.py printed no result; C# numbers only");
            }
            using var doc = JsonDocument.Parse(json);
            return (doc.RootElement.Clone(), null);
        }
        finally
        {
            File.Delete(requestFile);
        }
    }

    /// <summary>The request file of bench_reference.py: the settings as golden.py cases spell them, and the prompt ids.</summary>
    private static byte[] ReferenceRequest(BenchSettings s, GenerationPlan r, int maskSteps, int editSteps, List<int[]> prompts)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteStartObject("settings");
            w.WriteString("algorithm", DecodingAlgorithms.Name(r.Algorithm));
            w.WriteNumber("gen_length", r.GenLength);
            if (r.Algorithm == DecodingAlgorithm.MeDlm)
            {
                w.WriteNumber("mask_steps", maskSteps);
                w.WriteNumber("edit_steps", editSteps);
            }
            else
            {
                w.WriteNumber("steps", maskSteps);
                w.WriteNumber("block_length", r.BlockLength);
                w.WriteNumber("temperature", r.Temperature);
                w.WriteNumber("cfg_scale", s.Cfg);
                if (r.Algorithm == DecodingAlgorithm.Threshold)
                {
                    w.WriteNumber("threshold", r.Threshold);
                }
                w.WriteBoolean("logits_eos_inf", s.LogitsEosInf);
                w.WriteBoolean("confidence_eos_eot_inf", s.ConfidenceEosEotInf);
                w.WriteStartArray("seeds");
                for (int i = 0; i < prompts.Count; i++)
                {
                    w.WriteNumberValue(s.Seed);
                }
                w.WriteEndArray();
            }
            w.WriteEndObject();
            w.WriteNumber("batch_size", s.Batch);
            w.WriteStartArray("prompts");
            foreach (int[] ids in prompts)
            {
                w.WriteStartArray();
                foreach (int id in ids)
                {
                    w.WriteNumberValue(id);
                }
                w.WriteEndArray();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return buffer.ToArray();
    }

    private static int[] ReadIds(JsonElement array)
    {
        int[] ids = new int[array.GetArrayLength()];
        int i = 0;
        foreach (JsonElement e in array.EnumerateArray())
        {
            ids[i++] = e.GetInt32();
        }
        return ids;
    }

    private static string SettingsText(GenerationPlan r, int maskSteps, int editSteps) => r.Algorithm == DecodingAlgorithm.Threshold
        ? string.Create(CultureInfo.InvariantCulture, $"G={r.GenLength}, threshold {r.Threshold} (block {r.BlockLength}) + {editSteps} edit rounds")
        : string.Create(CultureInfo.InvariantCulture, $"G={r.GenLength}, {DecodingAlgorithms.Name(r.Algorithm)} {maskSteps} mask steps + {editSteps} edit rounds");

    private static string Row(string name, Measure m, bool showShare)
    {
        string share = showShare ? string.Create(CultureInfo.InvariantCulture, $" · {m.OutsideShare:0.0%} outside ONNX Runtime") : string.Empty;
        string threads = m.Threads > 0 ? string.Create(CultureInfo.InvariantCulture, $", threads {m.Threads}") : string.Empty;
        return string.Create(CultureInfo.InvariantCulture,
            $"{name,-18} {m.TokensPerSecond,9:0.0} tokens/s · {m.PassesPerSecond,8:0.0} passes/s · {m.TokensPerPass:0.00} tokens/pass{share} · {m.Seconds:0.000} s ({m.Tokens} tokens, {m.Passes} passes{threads})");
    }

    /// <summary>What each pass moves to and from the host per position, by output form, and the shapes bound.</summary>
    private static string HostBytesText(Generator generator)
    {
        PassIoStats io = generator.PassIo;
        ModelManifest m = generator.Package.Manifest;
        string denoiserForm = m.DenoiserTopK > 0 ? string.Create(CultureInfo.InvariantCulture, $"top-{m.DenoiserTopK}") : "full";
        string edit = generator.Package.HasEditHead
            ? string.Create(CultureInfo.InvariantCulture, $", edit round {io.EditRoundBytesPerPosition} (edit head {(m.EditHeadArgmax ? "argmax" : "full")} {io.EditHeadBytesPerPosition})")
            : string.Empty;
        string bucket = io.ShapeBucket > 1 ? string.Create(CultureInfo.InvariantCulture, $"buckets of {io.ShapeBucket}") : "exact shapes";
        return string.Create(CultureInfo.InvariantCulture,
            $"host bytes per position per pass: mask pass {io.MaskPassBytesPerPosition} (inputs {io.InputBytesPerPosition}, denoiser {denoiserForm} {io.DenoiserBytesPerPosition}){edit}; hidden states stay on the device{(io.PageLocked ? "; host buffers page-locked" : "")} · {io.ShapesBound} shapes bound ({bucket})");
    }

    /// <summary>
    /// The bare forward at the first batch's shape (its rows, the longest canvas, bucketed as MeDlm binds
    /// it), as many timed passes as that batch took.
    /// </summary>
    private static ForwardTimingResult BareForward(Generator generator, BenchSettings s, List<GenerationPlan> plans, GenerationResult first,
        CancellationToken ct)
    {
        int rows = Math.Min(s.Batch, plans.Count);
        int seq = 0;
        for (int i = 0; i < rows; i++)
        {
            seq = Math.Max(seq, plans[i].PromptTokenIds.Count + plans[i].GenLength);
        }
        (rows, seq) = generator.BoundShape(rows, seq);
        return ForwardTiming.Measure(generator.Package, rows, seq, Math.Max(3, first.Stats.TotalPasses), 2, generator.Package.HasEditHead, ct);
    }

    /// <summary>A MeDlm step's wall time against the bare forward for the same mix of mask passes and edit rounds.</summary>
    private static double BareStepSeconds(ForwardTimingResult b, GenerationResult first)
    {
        int total = Math.Max(1, first.Stats.TotalPasses);
        double editShare = (double)first.Stats.EditPasses / total;
        return b.DenoiserSeconds + (editShare * b.EditHeadSeconds);
    }

    private static string BareText(ForwardTimingResult b, Measure cs, GenerationResult first)
    {
        double bare = BareStepSeconds(b, first);
        double step = cs.BatchPasses > 0 ? cs.Seconds / cs.BatchPasses : double.NaN;
        return string.Create(CultureInfo.InvariantCulture,
            $"bare ONNX Runtime forward at batch {b.Batch} x {b.Seq}: denoiser {b.DenoiserSeconds * 1e3:0.000} ms, edit head {b.EditHeadSeconds * 1e3:0.000} ms; for this run's mix {bare * 1e3:0.000} ms/pass · MeDlm step {step * 1e3:0.000} ms/pass ({cs.BatchPasses} batch passes) · ratio {step / bare:0.00}x");
    }

    private static void WriteJson(Generator generator, BenchSettings s, string promptFile, int count, GenerationPlan r, int maskSteps,
        int editSteps, Measure cs, Measure? py, int identical, string? note, ForwardTimingResult? bare, GenerationResult first)
    {
        ModelPackage package = generator.Package;
        PassIoStats io = generator.PassIo;
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("model", package.Manifest.Name);
            w.WriteString("device", package.ExecutionProvider.ToString().ToLowerInvariant());
            w.WriteString("prompts_file", promptFile);
            w.WriteNumber("prompts", count);
            w.WriteNumber("batch_size", s.Batch);
            w.WriteNumber("warmup", s.Warmup);
            w.WriteStartObject("settings");
            w.WriteString("algorithm", DecodingAlgorithms.Name(r.Algorithm));
            w.WriteNumber("gen_length", r.GenLength);
            w.WriteNumber("mask_steps", maskSteps);
            w.WriteNumber("edit_steps", editSteps);
            w.WriteNumber("block_length", r.BlockLength);
            w.WriteEndObject();
            WriteMeasure(w, "csharp", cs);
            w.WriteStartObject("host_bytes_per_position");
            w.WriteNumber("inputs", io.InputBytesPerPosition);
            w.WriteNumber("denoiser", io.DenoiserBytesPerPosition);
            w.WriteNumber("edit_head", io.EditHeadBytesPerPosition);
            w.WriteNumber("hidden_states", 0);
            w.WriteNumber("mask_pass", io.MaskPassBytesPerPosition);
            w.WriteNumber("edit_round", io.EditRoundBytesPerPosition);
            w.WriteEndObject();
            w.WriteNumber("shape_bucket", io.ShapeBucket);
            w.WriteNumber("shapes_bound", io.ShapesBound);
            w.WriteBoolean("host_memory_page_locked", io.PageLocked);
            w.WriteNumber("batch_passes", cs.BatchPasses);
            if (bare is { } b)
            {
                w.WriteStartObject("bare_forward");
                w.WriteNumber("batch", b.Batch);
                w.WriteNumber("seq", b.Seq);
                w.WriteNumber("denoiser_seconds", b.DenoiserSeconds);
                w.WriteNumber("edit_head_seconds", b.EditHeadSeconds);
                w.WriteNumber("mix_seconds_per_pass", BareStepSeconds(b, first));
                w.WriteNumber("medlm_seconds_per_pass", cs.BatchPasses > 0 ? cs.Seconds / cs.BatchPasses : 0);
                w.WriteNumber("ratio", cs.BatchPasses > 0 ? cs.Seconds / cs.BatchPasses / BareStepSeconds(b, first) : 0);
                w.WriteEndObject();
            }
            if (py is not null)
            {
                WriteMeasure(w, "reference", py);
                w.WriteNumber("speed_ratio", py.TokensPerSecond > 0 ? cs.TokensPerSecond / py.TokensPerSecond : 0);
                w.WriteBoolean("token_identical", identical == count);
                w.WriteNumber("identical_responses", identical);
            }
            else
            {
                w.WriteNull("reference");
            }
            if (note is not null)
            {
                w.WriteString("note", note);
            }
            w.WriteEndObject();
        }
        Console.Out.WriteLine(Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length));
    }

    private static void WriteMeasure(Utf8JsonWriter w, string name, Measure m)
    {
        w.WriteStartObject(name);
        w.WriteNumber("seconds", m.Seconds);
        w.WriteNumber("tokens", m.Tokens);
        w.WriteNumber("passes", m.Passes);
        w.WriteNumber("tokens_per_second", m.TokensPerSecond);
        w.WriteNumber("passes_per_second", m.PassesPerSecond);
        w.WriteNumber("tokens_per_pass", m.TokensPerPass);
        if (!double.IsNaN(m.OutsideShare))
        {
            w.WriteNumber("outside_onnx_runtime_share", m.OutsideShare);
        }
        w.WriteNumber("threads", m.Threads);
        w.WriteEndObject();
    }

    private static string LastLine(string text)
    {
        string[] lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return lines.Length == 0 ? "no message" : lines[^1];
    }
}
