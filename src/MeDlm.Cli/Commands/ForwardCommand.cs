using Spectre.Console;

namespace MeDlm.Cli.Commands;

internal sealed class ForwardSettings : ModelSettings
{
    [CommandOption("--batch <LIST>")]
    [Description("Batch sizes to time, comma-separated")]
    [DefaultValue("1")]
    public string Batch { get; set; } = "1";

    [CommandOption("--seq <N>")]
    [Description("Positions per row (0: the model's max_sequence_length)")]
    [DefaultValue(0)]
    public int Seq { get; set; }

    [CommandOption("--passes <N>")]
    [Description("Timed passes per batch size")]
    [DefaultValue(5)]
    public int Passes { get; set; } = 5;

    [CommandOption("--warmup <N>")]
    [Description("Untimed passes first")]
    [DefaultValue(2)]
    public int Warmup { get; set; } = 2;

    [CommandOption("--edit-head")]
    [Description("Also run the edit head on each pass's hidden states")]
    public bool EditHead { get; set; }

    [CommandOption("--peak-tflops <X>")]
    [Description("Matrix-product rate to report model FLOP utilisation against (e.g. the measured bf16 GEMM rate); 0: not reported")]
    [DefaultValue(0.0)]
    public double PeakTflops { get; set; }

    [CommandOption("--json")]
    [Description("Print the result as JSON")]
    public bool Json { get; set; }

    public int[] Batches { get; private set; } = [];

    public override ValidationResult Validate()
    {
        ValidationResult b = base.Validate();
        if (!b.Successful)
        {
            return b;
        }
        var list = new List<int>();
        foreach (string part in Batch.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out int v) || v <= 0 || v > 4096)
            {
                return ValidationResult.Error($"--batch must list batch sizes in 1..4096 (got '{part}')");
            }
            list.Add(v);
        }
        if (list.Count == 0)
        {
            return ValidationResult.Error("--batch must list at least one batch size");
        }
        Batches = [.. list];
        if (Seq < 0 || Passes <= 0 || Warmup < 0)
        {
            return ValidationResult.Error("--seq must be >= 0, --passes > 0 and --warmup >= 0");
        }
        if (!(PeakTflops >= 0) || double.IsInfinity(PeakTflops))
        {
            return ValidationResult.Error($"--peak-tflops must be a finite number >= 0 (got {PeakTflops})");
        }
        return ValidationResult.Success();
    }
}

/// <summary>
/// `medlm forward`: seconds per bare ONNX Runtime forward pass of the package at given batch sizes and
/// length (<see cref="ForwardTiming"/>), with the model FLOPs and their utilisation of a given peak rate.
/// The GPU check times synthetic LLaDA-8B-shaped exports with it.
/// </summary>
internal sealed class ForwardCommand : Command<ForwardSettings>
{
    public override int Execute(CommandContext context, ForwardSettings settings, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(settings);
        using ModelPackage package = Runtime.Load(settings);
        int seq = settings.Seq == 0 ? package.Manifest.MaxSequenceLength : settings.Seq;
        if (seq > package.Manifest.MaxSequenceLength)
        {
            throw CliException.Usage($"--seq {seq} exceeds the model's max_sequence_length {package.Manifest.MaxSequenceLength}");
        }
        bool edit = settings.EditHead;
        if (edit && !package.HasEditHead)
        {
            throw CliException.Usage("--edit-head: the model has no edit head");
        }
        var rows = new List<(ForwardTimingResult Timing, double Flops)>();
        foreach (int batch in settings.Batches)
        {
            ForwardTimingResult t = ForwardTiming.Measure(package, batch, seq, settings.Passes, settings.Warmup, edit, cancellationToken);
            (double Denoiser, double EditHead)? f = ForwardTiming.ModelFlops(package.Manifest, batch, seq);
            rows.Add((t, f is { } v ? v.Denoiser + (edit ? v.EditHead : 0) : double.NaN));
        }
        string device = package.ExecutionProvider.ToString().ToLowerInvariant();
        if (settings.Json)
        {
            using var buffer = new MemoryStream();
            using (var w = new Utf8JsonWriter(buffer))
            {
                w.WriteStartObject();
                w.WriteString("model", package.Manifest.Name);
                w.WriteString("device", device);
                w.WriteString("dtype", package.Manifest.DType);
                w.WriteNumber("seq", seq);
                w.WriteBoolean("edit_head", edit);
                w.WriteStartArray("runs");
                foreach ((ForwardTimingResult t, double flops) in rows)
                {
                    double seconds = t.DenoiserSeconds + t.EditHeadSeconds;
                    w.WriteStartObject();
                    w.WriteNumber("batch", t.Batch);
                    w.WriteNumber("passes", t.Passes);
                    w.WriteNumber("denoiser_seconds", t.DenoiserSeconds);
                    w.WriteNumber("edit_head_seconds", t.EditHeadSeconds);
                    w.WriteNumber("seconds_per_pass", seconds);
                    if (!double.IsNaN(flops))
                    {
                        w.WriteNumber("tflop_per_pass", flops / 1e12);
                        w.WriteNumber("tflops", seconds > 0 ? flops / seconds / 1e12 : 0);
                        if (settings.PeakTflops > 0 && seconds > 0)
                        {
                            w.WriteNumber("mfu", flops / seconds / 1e12 / settings.PeakTflops);
                        }
                    }
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteEndObject();
            }
            Console.Out.WriteLine(Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length));
            return ExitCodes.Ok;
        }
        Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"medlm forward · {package.Manifest.Name} ({package.Manifest.DType}) on {device} · {seq} positions · bare ONNX Runtime runs{(edit ? " (denoiser + edit head)" : " (denoiser)")}"));
        foreach ((ForwardTimingResult t, double flops) in rows)
        {
            double seconds = t.DenoiserSeconds + t.EditHeadSeconds;
            string rate = double.IsNaN(flops) || seconds <= 0
                ? string.Empty
                : string.Create(CultureInfo.InvariantCulture, $" · {flops / 1e9:0.###} GFLOP/pass · {flops / seconds / 1e12:0.###} TFLOP/s");
            string mfu = settings.PeakTflops > 0 && !double.IsNaN(flops) && seconds > 0
                ? string.Create(CultureInfo.InvariantCulture, $" · MFU {flops / seconds / 1e12 / settings.PeakTflops:0.0%} of {settings.PeakTflops:0.###} TFLOP/s")
                : string.Empty;
            Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"batch {t.Batch,3} x {seq}: {seconds:0.0000} s/pass (denoiser {t.DenoiserSeconds:0.0000} s{(edit ? string.Create(CultureInfo.InvariantCulture, $", edit head {t.EditHeadSeconds:0.0000} s") : "")}){rate}{mfu}"));
        }
        return ExitCodes.Ok;
    }
}
