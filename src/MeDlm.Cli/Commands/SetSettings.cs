using Spectre.Console;

namespace MeDlm.Cli.Commands;

/// <summary>The flags of the commands that decode a whole prompt set in batches (bench, eval).</summary>
internal abstract class SetSettings : DecodingSettings
{
    [CommandOption("--batch-size <N>")]
    [Description("Sequences decoded in lockstep (default: bench 8, eval 32)")]
    public int? BatchSize { get; set; }

    [CommandOption("--python <PATH>")]
    [Description("python3 for the PyTorch reference (bench, with torch) or the code tests (eval) (default: python3, then /usr/bin/python3)")]
    public string? Python { get; set; }

    /// <summary>The batch size: <see cref="BatchSize"/> or the command's default.</summary>
    public int Batch => BatchSize ?? DefaultBatchSize;

    protected abstract int DefaultBatchSize { get; }

    public override ValidationResult Validate() => Checks.First(base.Validate(),
        Checks.Require(BatchSize is null or > 0, $"--batch-size must be positive (got {BatchSize})"));
}
