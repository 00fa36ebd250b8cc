using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using MeDlm.Cli.Evaluation;
using MeDlm.Cli.Rendering;
using MeDlm.Generation;
using MeDlm.Model;
using Spectre.Console;
using Spectre.Console.Cli;

namespace MeDlm.Cli.Commands;

internal sealed class EvalSettings : ModelSettings
{
    [CommandOption("--set <SET>")]
    [Description("heldout (the model package's heldout.jsonl) or a JSON-lines file: the held-out format, HumanEval, MBPP, GSM8K or MATH-500 (detected from the fields)")]
    [DefaultValue("heldout")]
    public string Set { get; set; } = "heldout";

    [CommandOption("--budgets <LIST>")]
    [Description("Comma-separated budgets, each a fraction of the generation length")]
    [DefaultValue("1,1/2,1/4,1/8")]
    public string Budgets { get; set; } = "1,1/2,1/4,1/8";

    [CommandOption("-g|--gen-length <N>")]
    [Description("Tokens to generate (default: the model's)")]
    public int? GenLength { get; set; }

    [CommandOption("--limit <N>")]
    [Description("Evaluate only the first N items (0: all)")]
    [DefaultValue(0)]
    public int Limit { get; set; }

    [CommandOption("--batch-size <N>")]
    [Description("Sequences decoded in lockstep")]
    [DefaultValue(32)]
    public int BatchSize { get; set; } = 32;

    [CommandOption("--timeout <SECONDS>")]
    [Description("Time limit of each code task's test run")]
    [DefaultValue(10.0)]
    public double Timeout { get; set; } = 10.0;

    [CommandOption("--jobs <N>")]
    [Description("Test runs in parallel (default: the number of cores)")]
    public int? Jobs { get; set; }

    [CommandOption("--python <PATH>")]
    [Description("python3 that runs the code tests (default: python3, then /usr/bin/python3)")]
    public string? Python { get; set; }

    [CommandOption("--json")]
    [Description("Print the table as one JSON object")]
    public bool Json { get; set; }

    [CommandOption("--completions <FILE>")]
    [Description("Also write every completion as JSON lines (budget, mode, item id, kind, text, correct, edit rounds)")]
    public string? Completions { get; set; }

    public List<(string Label, double Value)> BudgetList { get; private set; } = [];

    public override ValidationResult Validate()
    {
        ValidationResult r = base.Validate();
        if (!r.Successful)
        {
            return r;
        }
        if (!BudgetParser.TryParseList(Budgets, out List<(string, double)> list, out string error))
        {
            return ValidationResult.Error($"--budgets: {error}");
        }
        BudgetList = list;
        if (GenLength is <= 0)
        {
            return ValidationResult.Error($"--gen-length must be positive (got {GenLength})");
        }
        if (Limit < 0)
        {
            return ValidationResult.Error($"--limit must be >= 0 (got {Limit})");
        }
        if (BatchSize <= 0)
        {
            return ValidationResult.Error($"--batch-size must be positive (got {BatchSize})");
        }
        if (!(Timeout > 0))
        {
            return ValidationResult.Error($"--timeout must be positive (got {Timeout})");
        }
        if (Jobs is <= 0)
        {
            return ValidationResult.Error($"--jobs must be positive (got {Jobs})");
        }
        return ValidationResult.Success();
    }
}

/// <summary>
/// <c>medlm eval</c>: the paper's table. For each budget b (round(G·b) passes per sequence), accuracy of mask
/// decoding alone (every pass a mask step) against mask + edit at the same total (the runtime's split).
/// </summary>
internal sealed class EvalCommand : AsyncCommand<EvalSettings>
{
    /// <summary>One decoding configuration of the table and what each item produced under it.</summary>
    private sealed class Run(string budget, double fraction, bool edits, int totalPasses)
    {
        public string Budget { get; } = budget;

        public double Fraction { get; } = fraction;

        public bool Edits { get; } = edits;

        public int TotalPasses { get; } = totalPasses;

        public int MaskSteps { get; set; }

        public int PlannedEditRounds { get; set; }

        public string?[] Texts { get; set; } = [];

        public int[] EditRounds { get; set; } = [];

        public bool[] Correct { get; set; } = [];

        public double Seconds { get; set; }
    }

    private readonly record struct Tally(int Right, int Count)
    {
        public double? Percent => Count == 0 ? null : 100.0 * Right / Count;
    }

    public override async Task<int> ExecuteAsync(CommandContext context, EvalSettings settings, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(settings);
        using ModelPackage package = Runtime.Load(settings);
        string setPath = settings.Set.Equals("heldout", StringComparison.OrdinalIgnoreCase)
            ? Path.Combine(package.Folder, "heldout.jsonl")
            : Path.GetFullPath(settings.Set);
        (SetFormat format, List<EvalItem> items) = EvalSet.Load(setPath, settings.Limit);
        int g = settings.GenLength ?? package.Manifest.Generation.GenLength;

        bool hasCode = false;
        foreach (EvalItem it in items)
        {
            hasCode |= it.Kind == TaskKind.Code;
        }
        string? python = null;
        if (hasCode)
        {
            python = PythonLocator.Find(settings.Python, "import json, select", TimeSpan.FromSeconds(30))
                ?? throw new CliException(settings.Python is null
                    ? "python3 not found (tried python3 and /usr/bin/python3): it runs the code tasks' tests; pass --python PATH"
                    : $"{settings.Python} does not run: it is needed for the code tasks' tests");
        }

        using var generator = new Generator(package);
        // Prompts are planned once; one too long for the model's context counts as wrong in every row.
        int[]?[] prompts = new int[]?[items.Count];
        GenerationPlan? sample = null;
        int tooLong = 0;
        for (int i = 0; i < items.Count; i++)
        {
            try
            {
                sample = generator.Plan(new GenerationRequest { Messages = items[i].Messages, GenLength = g, BlockLength = g, MaskSteps = 1, EditSteps = 0 });
                prompts[i] = [.. sample.PromptTokenIds];
            }
            catch (GenerationRequestException e) when (e.Error == GenerationRequestError.ContextLengthExceeded)
            {
                tooLong++;
            }
        }

        var runs = new List<Run>();
        foreach ((string label, double b) in settings.BudgetList)
        {
            // The budget's passes as the planner splits them; mask-only spends them all on stage 1.
            int total = MeDlm.Decoding.Budget.Split(g, b, editShare: 0).MaskSteps;
            runs.Add(new Run(label, b, edits: false, total) { MaskSteps = total });
            if (package.HasEditHead && sample is not null)
            {
                GenerationPlan planned = generator.Plan(new GenerationRequest { PromptTokenIds = sample.PromptTokenIds, GenLength = g, Budget = b });
                runs.Add(new Run(label, b, edits: true, total) { MaskSteps = planned.MaskSteps, PlannedEditRounds = planned.EditRounds });
            }
        }

        int runnable = items.Count - tooLong;
        await ProgressBars.RunAsync("generating", (double)runnable * runs.Count, bar =>
        {
            foreach (Run run in runs)
            {
                Generate(generator, settings, g, run, prompts, bar, cancellationToken);
            }
            return Task.FromResult(0);
        }).ConfigureAwait(false);

        await Score(items, runs, python, settings, cancellationToken).ConfigureAwait(false);

        if (settings.Completions is not null)
        {
            WriteCompletions(settings.Completions, items, runs);
        }
        if (settings.Json)
        {
            WriteJson(Console.Out, package, setPath, format, items, runs, g, tooLong);
        }
        else
        {
            WriteTable(package, setPath, format, items, runs, g, tooLong);
        }
        return ExitCodes.Ok;
    }

    private static void Generate(Generator generator, EvalSettings settings, int g, Run run, int[]?[] prompts, IProgressBar bar,
        CancellationToken ct)
    {
        run.Texts = new string?[prompts.Length];
        run.EditRounds = new int[prompts.Length];
        var batch = new List<GenerationRequest>(settings.BatchSize);
        var index = new List<int>(settings.BatchSize);
        var clock = Stopwatch.StartNew();
        for (int i = 0; i <= prompts.Length; i++)
        {
            if (i < prompts.Length && prompts[i] is { } ids)
            {
                batch.Add(run.Edits
                    ? new GenerationRequest { PromptTokenIds = ids, GenLength = g, Budget = run.Fraction }
                    : new GenerationRequest { PromptTokenIds = ids, GenLength = g, MaskSteps = run.TotalPasses, EditSteps = 0 });
                index.Add(i);
            }
            if (batch.Count == settings.BatchSize || (i == prompts.Length && batch.Count > 0))
            {
                IReadOnlyList<GenerationResult> results = Runtime.Checked(() => generator.GenerateBatch(batch, ct));
                for (int k = 0; k < results.Count; k++)
                {
                    run.Texts[index[k]] = results[k].Text;
                    run.EditRounds[index[k]] = results[k].Stats.EditPasses;
                    run.MaskSteps = results[k].Stats.MaskPasses;
                    run.PlannedEditRounds = results[k].Stats.PlannedEditRounds;
                }
                bar.Increment(batch.Count);
                batch.Clear();
                index.Clear();
            }
        }
        run.Seconds = clock.Elapsed.TotalSeconds;
    }

    /// <summary>Math by the final answer; code by running each distinct program once (rows often repeat answers).</summary>
    private static async Task Score(List<EvalItem> items, List<Run> runs, string? python, EvalSettings settings, CancellationToken ct)
    {
        var programs = new List<string>();
        var programIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        var lookups = new List<(Run Run, int Item, int Program)>();
        foreach (Run run in runs)
        {
            run.Correct = new bool[items.Count];
            for (int i = 0; i < items.Count; i++)
            {
                if (run.Texts[i] is not { } text)
                {
                    continue;
                }
                if (items[i].Kind == TaskKind.Math)
                {
                    run.Correct[i] = items[i].Check(text);
                    continue;
                }
                string program = items[i].Program(text);
                if (!programIndex.TryGetValue(program, out int p))
                {
                    p = programs.Count;
                    programIndex[program] = p;
                    programs.Add(program);
                }
                lookups.Add((run, i, p));
            }
        }
        if (programs.Count == 0)
        {
            return;
        }
        var runner = new CodeRunner(python!, TimeSpan.FromSeconds(settings.Timeout), settings.Jobs ?? Environment.ProcessorCount);
        bool[] passed = await ProgressBars.RunAsync("running tests", programs.Count,
            bar => runner.RunAsync(programs, () => bar.Increment(1), ct)).ConfigureAwait(false);
        foreach ((Run run, int item, int program) in lookups)
        {
            run.Correct[item] = passed[program];
        }
    }

    private static Tally Of(Run run, List<EvalItem> items, TaskKind? kind)
    {
        int right = 0, count = 0;
        for (int i = 0; i < items.Count; i++)
        {
            if (kind is null || items[i].Kind == kind)
            {
                count++;
                right += run.Correct[i] ? 1 : 0;
            }
        }
        return new Tally(right, count);
    }

    private static double MeanEditRounds(Run run, List<EvalItem> items)
    {
        int n = 0;
        long sum = 0;
        for (int i = 0; i < items.Count; i++)
        {
            if (run.Texts[i] is not null)
            {
                n++;
                sum += run.EditRounds[i];
            }
        }
        return n == 0 ? 0 : (double)sum / n;
    }

    /// <summary>The kinds to report: code / math / all for a mixed set, else one column.</summary>
    private static List<(string Name, TaskKind? Kind)> Columns(List<EvalItem> items)
    {
        int code = 0, math = 0;
        foreach (EvalItem it in items)
        {
            if (it.Kind == TaskKind.Code)
            {
                code++;
            }
            else
            {
                math++;
            }
        }
        return code > 0 && math > 0
            ? [("code", TaskKind.Code), ("math", TaskKind.Math), ("all", null)]
            : [("all", null)];
    }

    private static string Pct(Tally s) => s.Percent is { } p ? p.ToString("0.0", CultureInfo.InvariantCulture) : "-";

    private static string Header(ModelPackage package, string setPath, SetFormat format, List<EvalItem> items, int g, int tooLong)
    {
        int code = 0;
        foreach (EvalItem it in items)
        {
            code += it.Kind == TaskKind.Code ? 1 : 0;
        }
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture,
            $"medlm eval · {format.ToString().ToLowerInvariant()} ({setPath}) · {items.Count} items ({code} code, {items.Count - code} math) · model {package.Manifest.Name} · G={g}");
        sb.Append(package.HasEditHead
            ? string.Create(CultureInfo.InvariantCulture, $" · mask+edit = the runtime's split ({package.Manifest.Generation.EditShare:0%} edit rounds)")
            : " · no edit head: mask decoding only");
        if (tooLong > 0)
        {
            sb.Append(CultureInfo.InvariantCulture, $"\n{tooLong} prompts do not fit the model's {package.Manifest.MaxSequenceLength}-token context with G={g}: counted as wrong");
        }
        return sb.ToString();
    }

    private static void WriteTable(ModelPackage package, string setPath, SetFormat format, List<EvalItem> items, List<Run> runs, int g, int tooLong)
    {
        List<(string Name, TaskKind? Kind)> cols = Columns(items);
        string kinds = string.Join(" / ", cols.ConvertAll(c => c.Name));
        var rows = new List<string[]>();
        for (int r = 0; r < runs.Count; r++)
        {
            Run mask = runs[r];
            if (mask.Edits)
            {
                continue;
            }
            Run? edit = r + 1 < runs.Count && runs[r + 1].Edits ? runs[r + 1] : null;
            string maskCells = string.Join(" / ", cols.ConvertAll(c => Pct(Of(mask, items, c.Kind))));
            string editCells = edit is null ? "-" : string.Join(" / ", cols.ConvertAll(c => Pct(Of(edit, items, c.Kind))));
            string gain = edit is null ? "-"
                : ((Of(edit, items, null).Percent ?? 0) - (Of(mask, items, null).Percent ?? 0)).ToString("+0.0;-0.0;0.0", CultureInfo.InvariantCulture);
            string rounds = edit is null ? "-"
                : string.Create(CultureInfo.InvariantCulture, $"{MeanEditRounds(edit, items):0.00} / {edit.PlannedEditRounds}");
            string split = edit is null ? string.Empty : string.Create(CultureInfo.InvariantCulture, $" ({edit.MaskSteps}+{edit.PlannedEditRounds})");
            rows.Add([$"{mask.Budget} ({mask.TotalPasses})", maskCells, editCells + split, gain, rounds]);
        }
        string[] headers = ["budget (passes)", $"mask only: {kinds}", $"mask + edit (mask+edit passes): {kinds}", "gain (all)", "edit rounds used / allowed"];

        string header = Header(package, setPath, format, items, g, tooLong);
        if (Console.IsOutputRedirected)
        {
            Console.Out.WriteLine(header);
            Console.Out.WriteLine("| " + string.Join(" | ", headers) + " |");
            Console.Out.WriteLine("|---|---|---|---|---|");
            foreach (string[] row in rows)
            {
                Console.Out.WriteLine("| " + string.Join(" | ", row) + " |");
            }
            return;
        }
        AnsiConsole.MarkupLine($"[grey]{Markup.Escape(header)}[/]");
        // In a terminal: narrower columns, the split beside the pass count, headers over two lines.
        var table = new Table().Border(TableBorder.Minimal);
        table.AddColumn(new TableColumn("budget\n(passes: mask+edit)"));
        table.AddColumn(new TableColumn($"mask only\n{Markup.Escape(kinds.Replace(" / ", "/", StringComparison.Ordinal))}").RightAligned());
        table.AddColumn(new TableColumn($"mask + edit\n{Markup.Escape(kinds.Replace(" / ", "/", StringComparison.Ordinal))}").RightAligned());
        table.AddColumn(new TableColumn("gain\n(all)").RightAligned());
        table.AddColumn(new TableColumn("edit rounds\nused/max").RightAligned());
        foreach (string[] row in rows)
        {
            string budget = row[0][..row[0].IndexOf(' ', StringComparison.Ordinal)];
            string passes = row[0][(budget.Length + 1)..].Trim('(', ')');
            string mask = row[1].Replace(" / ", "/", StringComparison.Ordinal);
            string edit = row[2].Replace(" / ", "/", StringComparison.Ordinal);
            int split = edit.IndexOf(" (", StringComparison.Ordinal);
            if (split >= 0)
            {
                passes += " = " + edit[(split + 2)..^1];
                edit = edit[..split];
            }
            string gain = row[3].StartsWith('+') ? $"[green]{Markup.Escape(row[3])}[/]" : row[3].StartsWith('-') ? $"[red]{Markup.Escape(row[3])}[/]" : row[3];
            table.AddRow(Markup.Escape($"{budget} ({passes})"), Markup.Escape(mask), $"[bold]{Markup.Escape(edit)}[/]", gain,
                Markup.Escape(row[4].Replace(" / ", "/", StringComparison.Ordinal)));
        }
        AnsiConsole.Write(table);
    }

    private static void WriteJson(TextWriter output, ModelPackage package, string setPath, SetFormat format, List<EvalItem> items, List<Run> runs,
        int g, int tooLong)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("model", package.Manifest.Name);
            w.WriteString("set", setPath);
            w.WriteString("format", format.ToString().ToLowerInvariant());
            w.WriteNumber("items", items.Count);
            w.WriteNumber("gen_length", g);
            w.WriteNumber("prompts_too_long", tooLong);
            w.WriteStartArray("rows");
            for (int r = 0; r < runs.Count; r++)
            {
                Run mask = runs[r];
                if (mask.Edits)
                {
                    continue;
                }
                Run? edit = r + 1 < runs.Count && runs[r + 1].Edits ? runs[r + 1] : null;
                w.WriteStartObject();
                w.WriteString("budget", mask.Budget);
                w.WriteNumber("fraction", mask.Fraction);
                w.WriteNumber("passes", mask.TotalPasses);
                WriteScores(w, "mask_only", mask, items);
                if (edit is not null)
                {
                    WriteScores(w, "mask_edit", edit, items);
                    w.WriteNumber("gain", (Of(edit, items, null).Percent ?? 0) - (Of(mask, items, null).Percent ?? 0));
                }
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        output.WriteLine(Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length));
    }

    private static void WriteCompletions(string path, List<EvalItem> items, List<Run> runs)
    {
        try
        {
            using var stream = File.Create(path);
            using var w = new Utf8JsonWriter(stream);
            byte[] newline = "\n"u8.ToArray();
            foreach (Run run in runs)
            {
                for (int i = 0; i < items.Count; i++)
                {
                    w.Reset();
                    w.WriteStartObject();
                    w.WriteString("budget", run.Budget);
                    w.WriteString("mode", run.Edits ? "mask_edit" : "mask_only");
                    w.WriteString("id", items[i].Id);
                    w.WriteString("kind", items[i].Kind == TaskKind.Code ? "code" : "math");
                    if (run.Texts[i] is { } text)
                    {
                        w.WriteString("text", text);
                    }
                    else
                    {
                        w.WriteNull("text");
                    }
                    w.WriteBoolean("correct", run.Correct[i]);
                    w.WriteNumber("edit_rounds", run.EditRounds[i]);
                    w.WriteEndObject();
                    w.Flush();
                    stream.Write(newline);
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CliException($"{path}: cannot write the completions ({e.Message})");
        }
    }

    private static void WriteScores(Utf8JsonWriter w, string name, Run run, List<EvalItem> items)
    {
        w.WriteStartObject(name);
        foreach ((string col, TaskKind? kind) in new (string, TaskKind?)[] { ("code", TaskKind.Code), ("math", TaskKind.Math), ("all", null) })
        {
            Tally s = Of(run, items, kind);
            if (s.Percent is { } p)
            {
                w.WriteNumber(col, p);
            }
            else
            {
                w.WriteNull(col);
            }
        }
        w.WriteNumber("mask_steps", run.MaskSteps);
        w.WriteNumber("edit_rounds_allowed", run.PlannedEditRounds);
        w.WriteNumber("edit_rounds_used", MeanEditRounds(run, items));
        w.WriteNumber("seconds", run.Seconds);
        w.WriteEndObject();
    }
}
