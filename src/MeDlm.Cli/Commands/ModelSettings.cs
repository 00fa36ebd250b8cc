using MeDlm.Sessions;
using ModelOptions = MeDlm.Model.ModelOptions;
using Spectre.Console;

namespace MeDlm.Cli.Commands;

/// <summary>Where the model comes from and where it runs (every command).</summary>
internal class ModelSettings : CommandSettings
{
    [CommandOption("-m|--model <DIR>")]
    [Description("Model package folder (default: the bundled onnx/medlm-tiny, found by walking up from here or from the tool)")]
    public string? Model { get; set; }

    [CommandOption("--device <DEVICE>")]
    [Description("cpu, cuda or auto (CUDA when it can be created, else the CPU with a warning)")]
    [DefaultValue("cpu")]
    public string Device { get; set; } = "cpu";

    [CommandOption("--threads <N>")]
    [Description("ONNX Runtime intra-op threads (0: one per available processor)")]
    [DefaultValue(0)]
    public int Threads { get; set; }

    [CommandOption("--shape-bucket <N>")]
    [Description("Pad each pass's length to a multiple of N and its batch to 1/2/4/8/8k rows so that edit rounds reuse shapes (0 or 1: exact shapes; default 64 on CUDA, exact on the CPU)")]
    public int? ShapeBucket { get; set; }

    [CommandOption("--cuda-graphs")]
    [Description("CUDA: capture each shape's pass as a CUDA graph and replay it (needs shape buckets)")]
    public bool CudaGraphs { get; set; }

    [CommandOption("-v|--verbose")]
    [Description("Log model loading details to stderr")]
    public bool Verbose { get; set; }

    public ExecutionProvider Provider { get; private set; }

    public override ValidationResult Validate()
    {
        if (!ExecutionProviders.TryParse(Device, out ExecutionProvider p))
        {
            return ValidationResult.Error($"--device must be cpu, cuda or auto (got '{Device}')");
        }
        Provider = p;
        return Checks.First(
            Checks.Require(Threads >= 0, $"--threads must be >= 0 (got {Threads})"),
            Checks.Require(ShapeBucket is null or (>= 0 and <= ModelOptions.MaxShapeBucket),
                $"--shape-bucket must be in 0..{ModelOptions.MaxShapeBucket} (got {ShapeBucket})"),
            Checks.Require(!(CudaGraphs && ShapeBucket is <= 1), "--cuda-graphs needs shape buckets (--shape-bucket > 1)"));
    }
}
