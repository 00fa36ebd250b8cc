using Spectre.Console;

namespace MeDlm.Cli.Rendering;

/// <summary>A progress bar to advance (a no-op when stderr is not a terminal).</summary>
internal interface IProgressBar
{
    void Increment(double amount);
}

/// <summary>Progress bars on stderr, so that stdout carries only the results (and --json stays clean).</summary>
internal static class ProgressBars
{
    public static async Task<T> RunAsync<T>(string description, double total, Func<IProgressBar, Task<T>> work)
    {
        ArgumentNullException.ThrowIfNull(work);
        if (Console.IsErrorRedirected)
        {
            return await work(NullBar.Instance).ConfigureAwait(false);
        }
        IAnsiConsole console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        T result = default!;
        await console.Progress()
            .AutoClear(true)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .StartAsync(async ctx =>
            {
                ProgressTask task = ctx.AddTask(Markup.Escape(description), maxValue: Math.Max(1, total));
                result = await work(new Bar(task)).ConfigureAwait(false);
                task.Value = task.MaxValue;
            }).ConfigureAwait(false);
        return result;
    }

    private sealed class Bar(ProgressTask task) : IProgressBar
    {
        public void Increment(double amount) => task.Increment(amount);
    }

    private sealed class NullBar : IProgressBar
    {
        public static readonly NullBar Instance = new();

        public void Increment(double amount)
        {
        }
    }
}
