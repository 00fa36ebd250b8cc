using System.Diagnostics;
using MeDlm.Cli.Evaluation;
using MeDlm.Cli.Rendering;
using Spectre.Console;

namespace MeDlm.Cli.Commands;

internal sealed class EvalSettings : SetSettings
{
    [CommandOption("--set <SET>")]
    [Description("heldout (the model package's heldout.jsonl) or a JSON-lines file: the held-out format, HumanEval, MBPP, GSM8K or MATH-500 (detected from the fields)")]
    [DefaultValue("heldout")]
    public string Set { get; set; } = "heldout";

    [CommandOption("--budgets <LIST>")]
    [Description("Comma-separated budgets, each a fraction of the generation length: mask only vs mask + edit at each (default 1,1/2,1/4,1/8 when no setting is given)")]
    public string? Budgets { get; set; }

    [CommandOption("--setting <TEXT>")]
    [Description("A decoding setting to evaluate, key=value pairs over the flags (algorithm=threshold,threshold=0.9,edit_steps=8); repeatable")]
    public string[] Setting { get; set; } = [];

    [CommandOption("--sweep <FILE>")]
    [Description("Settings to evaluate, one per line as for --setting (# comments, blank lines skipped)")]
    public string? Sweep { get; set; }

    // What to do with the measured settings: draw them, and keep the best one as the package's budget auto.
    [CommandOption("--from <FILE>"), Description("Also take the settings of an earlier eval --json output (repeatable): with no budgets or settings of its own, eval only combines them for --plot and --write-auto")]
    public string[] From { get; set; } = [];

    [CommandOption("--plot <PATH>"), Description("Write the accuracy / forward-passes frontier as PATH.png and PATH.svg")]
    public string? Plot { get; set; }

    [CommandOption("--write-auto"), Description("Write the best setting (highest accuracy, then fewest passes) into the package manifest as generation.auto (budget auto)")]
    public bool WriteAuto { get; set; }

    [CommandOption("--auto-tolerance <POINTS>"), DefaultValue(0.0)]
    [Description("--write-auto may take a setting up to this many accuracy points below the best if it needs fewer mean passes")]
    public double AutoTolerance { get; set; }

    [CommandOption("--limit <N>")]
    [Description("Evaluate only the first N items (0: all)")]
    [DefaultValue(0)]
    public int Limit { get; set; }

    [CommandOption("--timeout <SECONDS>")]
    [Description("Time limit of each code task's test run")]
    [DefaultValue(10.0)]
    public double Timeout { get; set; } = 10.0;

    [CommandOption("--jobs <N>")]
    [Description("Test runs in parallel (default: the number of cores)")]
    public int? Jobs { get; set; }

    [CommandOption("--completions <FILE>")]
    [Description("Also write every completion as JSON lines (setting, mode, item id, kind, text, correct, passes, edit rounds)")]
    public string? Completions { get; set; }

    protected override int DefaultBatchSize => 32;

    /// <summary>The budget table's budgets (empty: no table).</summary>
    public List<(string Label, double Value)> BudgetList { get; private set; } = [];

    /// <summary>The settings to evaluate: label (as written) and values over the flags.</summary>
    public List<(string Label, DecodingValues Values)> SettingList { get; private set; } = [];

    public override ValidationResult Validate()
    {
        ValidationResult r = Checks.First(base.Validate(),
            Checks.Require(!Raw && System is null, "eval takes its prompts from the set's chat messages: --raw and --system do not apply"),
            Checks.Require(Limit >= 0, $"--limit must be >= 0 (got {Limit})"),
            Checks.Require(Timeout > 0, $"--timeout must be positive (got {Timeout})"),
            Checks.Require(Jobs is null or > 0, $"--jobs must be positive (got {Jobs})"),
            Checks.Require(AutoTolerance >= 0 && double.IsFinite(AutoTolerance), $"--auto-tolerance must be a finite number >= 0 (got {AutoTolerance})"));
        if (!r.Successful)
        {
            return r;
        }
        var lines = new List<(string Where, string Text)>();
        for (int i = 0; i < Setting.Length; i++)
        {
            lines.Add(($"--setting {i + 1}", Setting[i]));
        }
        if (Sweep is not null)
        {
            string[] file;
            try
            {
                file = File.ReadAllLines(Sweep);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return ValidationResult.Error($"--sweep {Sweep}: {e.Message}");
            }
            for (int i = 0; i < file.Length; i++)
            {
                string line = file[i].Trim();
                if (line.Length > 0 && !line.StartsWith('#'))
                {
                    lines.Add(($"{Sweep}:{i + 1}", line));
                }
            }
        }
        SettingList = [];
        foreach ((string where, string text) in lines)
        {
            if (!DecodingValues.TryParse(text, Values, out DecodingValues v, out string error))
            {
                return ValidationResult.Error($"{where}: {error}");
            }
            SettingList.Add((text, v));
        }
        // The flags alone are a setting when they set anything and no list is given.
        if (SettingList.Count == 0 && Values with { GenLength = null } != DecodingValues.Defaults)
        {
            SettingList.Add((Values.Describe(), Values));
        }
        string? budgets = Budgets ?? (SettingList.Count == 0 && From.Length == 0 ? "1,1/2,1/4,1/8" : null);
        BudgetList = [];
        if (budgets is not null)
        {
            if (!BudgetParser.TryParseList(budgets, out List<(string, double)> list, out string error))
            {
                return ValidationResult.Error($"--budgets: {error}");
            }
            BudgetList = list;
        }
        return Checks.First(
            Checks.Require(!WriteAuto || SettingList.Count > 0 || From.Length > 0, "--write-auto chooses among settings: give --setting, --sweep or --from"),
            Checks.Require(Plot is null || BudgetList.Count > 0 || SettingList.Count > 0 || From.Length > 0, "--plot needs budgets, settings or --from"));
    }
}

/// <summary>
/// <c>medlm eval</c>: accuracy against forward passes. The paper's table: for each budget b (round(G·b) passes per
/// sequence), mask decoding alone (every pass a mask step) against mask + edit at the same total (the runtime's
/// split). And any decoding setting (flags, <c>--setting</c>, <c>--sweep</c>): accuracy, passes per answer, tokens per
/// pass, edits by kind and answers per second, the frontier as a plot, and the best one as the package's budget auto.
/// </summary>
internal sealed class EvalCommand : AsyncCommand<EvalSettings>
{
    public override async Task<int> ExecuteAsync(CommandContext context, EvalSettings settings, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var earlier = new List<FrontierPoint>();
        string title = "";
        foreach (string file in settings.From)
        {
            earlier.AddRange(FrontierPoint.Load(file, out string t));
            title = title.Length == 0 ? t : title;
        }
        using ModelPackage package = Runtime.Load(settings);
        if (settings.BudgetList.Count == 0 && settings.SettingList.Count == 0)
        {
            Frontier(settings, package, title, earlier);
            return ExitCodes.Ok;
        }
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
        int[]? sample = null;
        int tooLong = 0;
        for (int i = 0; i < items.Count; i++)
        {
            try
            {
                prompts[i] = [.. generator.Plan(new GenerationRequest { Messages = items[i].Messages, GenLength = g, BlockLength = g, MaskSteps = 1, EditSteps = 0 }).PromptTokenIds];
                sample ??= prompts[i];
            }
            catch (GenerationRequestException e) when (e.Error == GenerationRequestError.ContextLengthExceeded)
            {
                tooLong++;
            }
        }

        List<EvalRun> runs = Runs(generator, settings, g, sample);
        int runnable = items.Count - tooLong;
        await ProgressBars.RunAsync("generating", (double)runnable * runs.Count, bar =>
        {
            foreach (EvalRun run in runs)
            {
                Generate(generator, settings, run, prompts, bar, cancellationToken);
            }
            return Task.FromResult(0);
        }).ConfigureAwait(false);

        await Score(items, runs, python, settings, cancellationToken).ConfigureAwait(false);

        List<FrontierPoint> points = runs.ConvertAll(r => FrontierPoint.Of(r, items));
        points.AddRange(earlier);
        FrontierPoint? chosen = Frontier(settings, package, $"{package.Manifest.Name} · {Path.GetFileName(setPath)} ({items.Count} items) · G={g}", points, print: false);
        if (settings.Completions is not null)
        {
            WriteCompletions(settings.Completions, items, runs);
        }
        string header = Header(package, setPath, format, items, g, tooLong);
        if (settings.Json)
        {
            WriteJson(Console.Out, package, setPath, format, items, runs, g, tooLong, chosen);
        }
        else
        {
            if (runs.Exists(r => r.Kind == RunKind.Setting))
            {
                WriteSweepTable(header, items, runs);
            }
            else
            {
                WriteTable(header, items, runs);
            }
            Finished(settings, package, chosen);
        }
        return ExitCodes.Ok;
    }

    /// <summary>--write-auto and --plot over <paramref name="points"/>; with <paramref name="print"/>, a line per point and what was written.</summary>
    private static FrontierPoint? Frontier(EvalSettings settings, ModelPackage package, string title, List<FrontierPoint> points, bool print = true)
    {
        FrontierPoint? chosen = null;
        if (settings.WriteAuto)
        {
            chosen = AutoWriter.Choose(points, settings.AutoTolerance)
                ?? throw CliException.Usage("--write-auto: no setting can be an auto setting (they set sampling, a seed, Dream or EOS options or budget auto; an auto setting holds algorithm, budget, mask_steps, block_length, threshold, edit_steps, edit_threshold and switch_threshold)");
            AutoWriter.Write(package.Manifest.Path, chosen.Auto!);
        }
        if (settings.Plot is not null)
        {
            FrontierPlot.Write(settings.Plot, title, points, chosen);
        }
        if (print)
        {
            Console.Out.WriteLine("| setting | accuracy (all) | passes mean |");
            Console.Out.WriteLine("|---|---|---|");
            foreach (FrontierPoint p in points)
            {
                string label = p.Kind == RunKind.Setting ? $"`{p.Label}`" : $"{(p.Kind == RunKind.MaskOnly ? "mask only" : "mask + edit")} {p.Budget}";
                Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {label} | {p.Accuracy:0.0} | {p.Passes:0.00} |"));
            }
            Finished(settings, package, chosen);
        }
        return chosen;
    }

    private static void Finished(EvalSettings settings, ModelPackage package, FrontierPoint? chosen)
    {
        if (chosen is not null)
        {
            Console.Out.WriteLine($"auto: {chosen.Label} written to {package.Manifest.Path} (generation.auto)");
        }
        if (settings.Plot is not null)
        {
            Console.Out.WriteLine($"plot: {FrontierPlot.Base(settings.Plot)}.png, .svg");
        }
    }

    /// <summary>The budget table's pairs, then the settings; each planned once on a sample prompt, so a setting the model refuses fails before any pass.</summary>
    private static List<EvalRun> Runs(Generator generator, EvalSettings settings, int g, int[]? sample)
    {
        var runs = new List<EvalRun>();
        foreach ((string label, double b) in settings.BudgetList)
        {
            // The budget's passes as the planner splits them; mask-only spends them all on stage 1.
            int total = MeDlm.Decoding.Budget.Split(g, b, editShare: 0).MaskSteps;
            DecodingValues over = settings.Values with { Auto = false };
            runs.Add(new EvalRun(label, RunKind.MaskOnly, over with { Budget = null, MaskSteps = total, EditSteps = 0 })
            { Budget = label, Fraction = b, TotalPasses = total });
            if (generator.Package.HasEditHead)
            {
                runs.Add(new EvalRun(label, RunKind.MaskEdit, over with { Budget = b, MaskSteps = null, EditSteps = null })
                { Budget = label, Fraction = b, TotalPasses = total });
            }
        }
        foreach ((string label, DecodingValues v) in settings.SettingList)
        {
            runs.Add(new EvalRun(label, RunKind.Setting, v));
        }
        if (sample is not null)
        {
            foreach (EvalRun run in runs)
            {
                try
                {
                    run.Plan = generator.Plan(run.Values.Request(promptIds: sample));
                }
                catch (GenerationRequestException e)
                {
                    throw CliException.Usage($"{(run.Kind == RunKind.Setting ? "setting" : "budget")} {run.Label}: {e.Message}");
                }
            }
        }
        return runs;
    }

    private static void Generate(Generator generator, EvalSettings settings, EvalRun run, int[]?[] prompts, IProgressBar bar,
        CancellationToken ct)
    {
        run.Allocate(prompts.Length);
        var batch = new List<GenerationRequest>(settings.Batch);
        var index = new List<int>(settings.Batch);
        var clock = Stopwatch.StartNew();
        for (int i = 0; i <= prompts.Length; i++)
        {
            if (i < prompts.Length && prompts[i] is { } ids)
            {
                batch.Add(run.Values.Request(promptIds: ids));
                index.Add(i);
            }
            if (batch.Count == settings.Batch || (i == prompts.Length && batch.Count > 0))
            {
                IReadOnlyList<GenerationResult> results = Runtime.Checked(() => generator.GenerateBatch(batch, ct));
                for (int k = 0; k < results.Count; k++)
                {
                    run.Record(index[k], results[k]);
                }
                bar.Increment(batch.Count);
                batch.Clear();
                index.Clear();
            }
        }
        run.Seconds = clock.Elapsed.TotalSeconds;
    }

    /// <summary>Math by the final answer; code by running each distinct program once (rows often repeat answers).</summary>
    private static async Task Score(List<EvalItem> items, List<EvalRun> runs, string? python, EvalSettings settings, CancellationToken ct)
    {
        var programs = new List<string>();
        var programIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        var lookups = new List<(EvalRun Run, int Item, int Program)>();
        foreach (EvalRun run in runs)
        {
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
        foreach ((EvalRun run, int item, int program) in lookups)
        {
            run.Correct[item] = passed[program];
        }
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

    private static void WriteTable(string header, List<EvalItem> items, List<EvalRun> runs)
    {
        List<(string Name, TaskKind? Kind)> cols = Columns(items);
        string kinds = string.Join(" / ", cols.ConvertAll(c => c.Name));
        var rows = new List<string[]>();
        for (int r = 0; r < runs.Count; r++)
        {
            EvalRun mask = runs[r];
            if (mask.Kind != RunKind.MaskOnly)
            {
                continue;
            }
            EvalRun? edit = r + 1 < runs.Count && runs[r + 1].Kind == RunKind.MaskEdit ? runs[r + 1] : null;
            string maskCells = string.Join(" / ", cols.ConvertAll(c => Pct(mask.Accuracy(items, c.Kind))));
            string editCells = edit is null ? "-" : string.Join(" / ", cols.ConvertAll(c => Pct(edit.Accuracy(items, c.Kind))));
            string gain = edit is null ? "-"
                : (Gain(mask, edit, items)).ToString("+0.0;-0.0;0.0", CultureInfo.InvariantCulture);
            string rounds = edit is null ? "-"
                : string.Create(CultureInfo.InvariantCulture, $"{edit.Mean(s => s.EditRounds):0.00} / {edit.Plan?.EditRounds}");
            string split = edit is null ? string.Empty : string.Create(CultureInfo.InvariantCulture, $" ({edit.Plan?.MaskSteps}+{edit.Plan?.EditRounds})");
            rows.Add([$"{mask.Budget} ({mask.TotalPasses})", maskCells, editCells + split, gain, rounds]);
        }
        string[] headers = ["budget (passes)", $"mask only: {kinds}", $"mask + edit (mask+edit passes): {kinds}", "gain (all)", "edit rounds used / allowed"];

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

    private static double Gain(EvalRun mask, EvalRun edit, List<EvalItem> items) =>
        (edit.Accuracy(items, null).Percent ?? 0) - (mask.Accuracy(items, null).Percent ?? 0);

    private static string F(double d, string format) => d.ToString(format, CultureInfo.InvariantCulture);

    /// <summary>Every run as a row: accuracy, passes per answer, tokens per pass, edits by kind per answer, answers per second.</summary>
    private static void WriteSweepTable(string header, List<EvalItem> items, List<EvalRun> runs)
    {
        List<(string Name, TaskKind? Kind)> cols = Columns(items);
        string kinds = string.Join(" / ", cols.ConvertAll(c => c.Name));
        var o = Console.Out;
        o.WriteLine(header);
        o.WriteLine($"| setting | accuracy: {kinds} | passes mean / p90 | tokens/pass | edits R / D / I per answer | answers/s |");
        o.WriteLine("|---|---|---|---|---|---|");
        foreach (EvalRun run in runs)
        {
            string label = run.Kind switch
            {
                RunKind.MaskOnly => $"mask only {run.Budget}",
                RunKind.MaskEdit => $"mask + edit {run.Budget} ({run.Plan?.MaskSteps}+{run.Plan?.EditRounds})",
                _ => $"`{run.Label}`",
            };
            string acc = string.Join(" / ", cols.ConvertAll(c => Pct(run.Accuracy(items, c.Kind))));
            o.WriteLine($"| {label} | {acc} | {F(run.MeanPasses, "0.00")} / {run.P90Passes()} | {F(run.TokensPerPass(), "0.00")} | " +
                $"{F(run.Mean(s => s.Replaced), "0.00")} / {F(run.Mean(s => s.Deleted), "0.00")} / {F(run.Mean(s => s.Inserted), "0.00")} | {F(run.AnswersPerSecond, "0.0")} |");
        }
    }

    private static void WriteJson(TextWriter output, ModelPackage package, string setPath, SetFormat format, List<EvalItem> items, List<EvalRun> runs,
        int g, int tooLong, FrontierPoint? chosen)
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
                EvalRun mask = runs[r];
                if (mask.Kind != RunKind.MaskOnly)
                {
                    continue;
                }
                EvalRun? edit = r + 1 < runs.Count && runs[r + 1].Kind == RunKind.MaskEdit ? runs[r + 1] : null;
                w.WriteStartObject();
                w.WriteString("budget", mask.Budget);
                w.WriteNumber("fraction", mask.Fraction);
                w.WriteNumber("passes", mask.TotalPasses);
                w.WritePropertyName("mask_only");
                WriteRun(w, mask, items);
                if (edit is not null)
                {
                    w.WritePropertyName("mask_edit");
                    WriteRun(w, edit, items);
                    w.WriteNumber("gain", Gain(mask, edit, items));
                }
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("settings");
            foreach (EvalRun run in runs)
            {
                WriteRun(w, run, items);
            }
            w.WriteEndArray();
            if (chosen is not null)
            {
                w.WriteStartObject("auto");
                w.WriteString("setting", chosen.Label);
                w.WriteString("manifest", package.Manifest.Path);
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        output.WriteLine(Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length));
    }

    private static string Mode(EvalRun run) => run.Kind switch
    {
        RunKind.MaskOnly => "mask_only",
        RunKind.MaskEdit => "mask_edit",
        _ => "setting",
    };

    /// <summary>One run's scores and statistics (the budget rows' fields kept: code / math / all, mask_steps, edit rounds, seconds).</summary>
    private static void WriteRun(Utf8JsonWriter w, EvalRun run, List<EvalItem> items)
    {
        w.WriteStartObject();
        w.WriteString("setting", run.Kind == RunKind.Setting ? run.Label : run.Values.Describe());
        w.WriteString("mode", Mode(run));
        if (run.Kind != RunKind.Setting)
        {
            w.WriteString("budget", run.Budget);
        }
        if (run.Plan is { } plan)
        {
            w.WriteString("algorithm", MeDlm.Decoding.DecodingAlgorithms.Name(plan.Algorithm));
            w.WriteNumber("mask_steps", plan.MaskSteps);
            w.WriteNumber("edit_rounds_allowed", plan.EditRounds);
        }
        foreach ((string col, TaskKind? kind) in new (string, TaskKind?)[] { ("code", TaskKind.Code), ("math", TaskKind.Math), ("all", null) })
        {
            Tally s = run.Accuracy(items, kind);
            if (s.Percent is { } p)
            {
                w.WriteNumber(col, p);
            }
            else
            {
                w.WriteNull(col);
            }
        }
        w.WriteNumber("passes_mean", run.MeanPasses);
        w.WriteNumber("passes_p90", run.P90Passes());
        w.WriteNumber("mask_passes_mean", run.Mean(s => s.MaskPasses));
        w.WriteNumber("edit_rounds_used", run.Mean(s => s.EditRounds));
        w.WriteNumber("tokens_per_pass", run.TokensPerPass());
        w.WriteStartObject("edits_per_answer");
        w.WriteNumber("replaced", run.Mean(s => s.Replaced));
        w.WriteNumber("deleted", run.Mean(s => s.Deleted));
        w.WriteNumber("inserted", run.Mean(s => s.Inserted));
        w.WriteEndObject();
        w.WriteNumber("answers_per_second", run.AnswersPerSecond);
        w.WriteNumber("seconds", run.Seconds);
        w.WriteEndObject();
    }

    private static void WriteCompletions(string path, List<EvalItem> items, List<EvalRun> runs)
    {
        try
        {
            using var stream = File.Create(path);
            using var w = new Utf8JsonWriter(stream);
            byte[] newline = "\n"u8.ToArray();
            foreach (EvalRun run in runs)
            {
                for (int i = 0; i < items.Count; i++)
                {
                    w.Reset();
                    w.WriteStartObject();
                    w.WriteString("setting", run.Kind == RunKind.Setting ? run.Label : run.Budget);
                    w.WriteString("mode", Mode(run));
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
                    w.WriteNumber("passes", run.Items[i].Passes);
                    w.WriteNumber("edit_rounds", run.Items[i].EditRounds);
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
}
