using MeDlm.Cli;
using MeDlm.Cli.Commands;
using Spectre.Console;

Console.OutputEncoding = Encoding.UTF8;

var app = new CommandApp();
app.Configure(config =>
{
    config.SetApplicationName("medlm");
    // Exceptions come back here so that usage errors exit 2 and runtime errors 1, each as one line.
    config.PropagateExceptions();
    // An unknown flag is a usage error, not a silently ignored extra argument.
    config.UseStrictParsing();
    config.AddCommand<GenerateCommand>("generate")
        .WithDescription("Generate an answer to a prompt (mask decoding, then edit rounds)")
        .WithExample("generate", "\"write add_k(items) with k = 3\"")
        .WithExample("generate", "\"hal has 5 bags with 3 pens each. how many pens?\"", "--budget", "1/4", "--show-edits")
        .WithExample("generate", "\"write sum_gt(vals) with k = 2\"", "--visual");
    config.AddCommand<BenchCommand>("bench")
        .WithDescription("End-to-end throughput on a prompt set, against the PyTorch reference in the same run")
        .WithExample("bench", "--count", "64", "--batch-size", "8");
    config.AddCommand<ForwardCommand>("forward")
        .WithDescription("Seconds per bare ONNX Runtime forward pass at given batch sizes, with model FLOP utilisation")
        .WithExample("forward", "--batch", "1,4,8", "--seq", "640", "--peak-tflops", "790", "--device", "cuda");
    config.AddCommand<GoldenCommand>("golden")
        .WithDescription("Run a decoder golden file (export/golden.py) on this device and compare with the reference, token for token")
        .WithExample("golden", "tests/golden/medlm-tiny/decoders.json", "--device", "cuda");
    config.AddCommand<EvalCommand>("eval")
        .WithDescription("Accuracy against forward passes: mask only vs mask + edit per budget (the paper's table), any decoding setting or a sweep, the frontier plot, budget auto")
        .WithExample("eval", "--limit", "200")
        .WithExample("eval", "--budgets", "1,1/2,1/4,1/8", "--sweep", "sweep.txt", "--plot", "frontier", "--write-auto")
        .WithExample("eval", "--setting", "algorithm=threshold,threshold=0.9,edit_steps=8", "--json")
        .WithExample("eval", "--set", "../shared/benchmarks/gsm8k.jsonl", "--model", "path/to/me-dlm");
});

using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    // First Ctrl+C cancels the generation at the next pass; a second one kills the process.
    if (!cancel.IsCancellationRequested)
    {
        e.Cancel = true;
        cancel.Cancel();
    }
};

try
{
    return await app.RunAsync(args, cancel.Token).ConfigureAwait(false);
}
catch (CommandAppException e)
{
    Console.Error.WriteLine($"medlm: error: {OneLine(e.Message)}");
    return ExitCodes.UsageError;
}
catch (CliException e)
{
    Console.Error.WriteLine($"medlm: error: {OneLine(e.Message)}");
    return e.ExitCode;
}
catch (OperationCanceledException)
{
    Console.Error.WriteLine("medlm: cancelled");
    return ExitCodes.Cancelled;
}
catch (Exception e) when (e is not OutOfMemoryException)
{
    Console.Error.WriteLine($"medlm: error: {OneLine(e.Message)} ({e.GetType().Name})");
    return ExitCodes.RuntimeError;
}

static string OneLine(string message) => message.ReplaceLineEndings(" ").Trim();
