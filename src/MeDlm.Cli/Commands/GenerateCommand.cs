using System.Diagnostics;
using MeDlm.Cli.Rendering;
using Spectre.Console;

namespace MeDlm.Cli.Commands;

internal sealed class GenerateSettings : DecodingSettings
{
    [CommandArgument(0, "[prompt]")]
    [Description("The prompt (a user message; wrapped in the chat template unless --raw); read from stdin when omitted")]
    public string? Prompt { get; set; }

    [CommandOption("--visual")]
    [Description("Draw the denoising live: masks filling in, then the edits of each round")]
    public bool Visual { get; set; }

    [CommandOption("--frame-ms <MS>")]
    [Description("Delay per frame of --visual in a terminal")]
    [DefaultValue(60)]
    public int FrameMs { get; set; } = 60;

    [CommandOption("--show-edits")]
    [Description("Print the stage-1 draft and the answer with the edits marked like a diff")]
    public bool ShowEdits { get; set; }

    public override ValidationResult Validate() => Checks.First(base.Validate(),
        Checks.Require(!(Json && (Visual || ShowEdits)), "--json cannot be combined with --visual or --show-edits (the JSON already holds the draft)"),
        Checks.Require(FrameMs >= 0, $"--frame-ms must be >= 0 (got {FrameMs})"));
}

/// <summary><c>medlm generate "prompt"</c>: one answer, as text, JSON, a live view or a diff of the edits.</summary>
internal sealed class GenerateCommand : AsyncCommand<GenerateSettings>
{
    public override async Task<int> ExecuteAsync(CommandContext context, GenerateSettings settings, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(settings);
        string prompt = settings.Prompt
            ?? (Console.IsInputRedirected ? (await Console.In.ReadToEndAsync(cancellationToken).ConfigureAwait(false)).TrimEnd('\n', '\r') : string.Empty);
        if (prompt.Length == 0)
        {
            throw CliException.Usage("no prompt: give it as the argument or on stdin");
        }
        using ModelPackage package = Runtime.Load(settings);
        using var generator = new Generator(package);
        GenerationRequest request = Runtime.Request(settings, prompt: prompt);

        var clock = Stopwatch.StartNew();
        GenerationResult result;
        try
        {
            result = settings.Visual
                ? await Visual(generator, request, settings, cancellationToken).ConfigureAwait(false)
                : generator.Generate(request, cancellationToken);
        }
        catch (ArgumentException e)
        {
            // The request is validated before the first pass: a flag combination the model rejects.
            throw CliException.Usage(Runtime.StripParamName(e));
        }
        clock.Stop();
        // A live view's wall time is mostly drawing and frame delays: report the passes' own time instead.
        TimeSpan elapsed = settings.Visual ? result.Stats.ModelTime + result.Stats.OverheadTime : clock.Elapsed;

        if (settings.Json)
        {
            WriteJson(Console.Out, result, package, elapsed);
            return ExitCodes.Ok;
        }
        IAnsiConsole? terminal = Console.IsOutputRedirected ? null : AnsiConsole.Console;
        if (settings.ShowEdits)
        {
            int[] draft = result.DraftAnswerTokenIds.ToArray();
            int[] answer = result.AnswerTokenIds.ToArray();
            List<DiffOp> ops = TokenDiff.Align(draft, answer);
            (int r, int d, int i) = TokenDiff.Count(ops);
            string title = result.Stats.EditPasses == 0
                ? "no edit rounds ran"
                : $"{result.Stats.EditPasses} edit rounds applied R{result.Stats.Edits.Replaced} D{result.Stats.Edits.Deleted} I{result.Stats.Edits.Inserted} over the whole canvas; draft to answer: {r} replaced, {d} deleted, {i} inserted tokens";
            EditDiff.Write(terminal, Console.Out, result.DraftText, result.Text, EditDiff.Segments(ops, package.Tokenizer), title);
        }
        else if (!settings.Visual)
        {
            Console.Out.WriteLine(result.Text);
        }
        Console.Error.WriteLine(StatsFormat.Line(result, elapsed));
        return ExitCodes.Ok;
    }

    /// <summary>Streams the passes and draws each one; in a terminal live with colours, else as plain frames.</summary>
    private static async Task<GenerationResult> Visual(Generator generator, GenerationRequest request, GenerateSettings s, CancellationToken ct)
    {
        ModelPackage package = generator.Package;
        GenerationPlan plan = generator.Plan(request);
        var text = new TokenText(package.Tokenizer, package.Manifest.SpecialTokens);
        var progress = new VisualProgress(plan);
        IReadOnlyList<int> before = Array.Empty<int>();
        GenerationResult? result = null;

        IAsyncEnumerable<GenerationStep> steps = generator.GenerateStreamingAsync(request, ct);
        if (Console.IsOutputRedirected)
        {
            await foreach (GenerationStep step in steps.ConfigureAwait(false))
            {
                List<Cell> cells = CanvasFrame.Build(step, before, text);
                Console.Out.WriteLine($"--- {progress.Status(step)}");
                Console.Out.WriteLine(CanvasFrame.Plain(cells));
                before = step.TokenIds;
                result = step.Result ?? result;
            }
            return result ?? throw new CliException("the generation ended without a result");
        }

        await AnsiConsole.Live(new Text(string.Empty)).AutoClear(false).Overflow(VerticalOverflow.Ellipsis)
            .StartAsync(async ctx =>
            {
                await foreach (GenerationStep step in steps.ConfigureAwait(false))
                {
                    List<Cell> cells = CanvasFrame.Build(step, before, text);
                    ctx.UpdateTarget(CanvasFrame.Styled(cells, progress.Status(step)));
                    ctx.Refresh();
                    before = step.TokenIds;
                    result = step.Result ?? result;
                    if (s.FrameMs > 0)
                    {
                        await Task.Delay(s.FrameMs, ct).ConfigureAwait(false);
                    }
                }
                // The last frame again without this pass's highlights: the answer as it stands.
                if (result is not null)
                {
                    List<Cell> last = CanvasFrame.Static(result.TokenIds, text);
                    ctx.UpdateTarget(CanvasFrame.Styled(last, VisualProgress.Done(result)));
                    ctx.Refresh();
                }
            }).ConfigureAwait(false);
        return result ?? throw new CliException("the generation ended without a result");
    }

    /// <summary>One object on one line: the answer, the draft, their ids and the stats.</summary>
    public static void WriteJson(TextWriter output, GenerationResult r, ModelPackage package, TimeSpan wall)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(r);
        ArgumentNullException.ThrowIfNull(package);
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            GenerationStats s = r.Stats;
            int tokens = r.AnswerLength;
            w.WriteStartObject();
            w.WriteString("model", package.Manifest.Name);
            w.WriteString("text", r.Text);
            w.WriteString("draft", r.DraftText);
            WriteIds(w, "token_ids", r.TokenIds);
            WriteIds(w, "draft_token_ids", r.DraftTokenIds);
            WriteIds(w, "prompt_token_ids", r.PromptTokenIds);
            w.WriteStartObject("stats");
            w.WriteNumber("prompt_tokens", s.PromptTokens);
            w.WriteNumber("answer_tokens", tokens);
            w.WriteNumber("passes", s.TotalPasses);
            w.WriteNumber("mask_passes", s.MaskPasses);
            w.WriteNumber("edit_passes", s.EditPasses);
            w.WriteNumber("planned_edit_rounds", s.PlannedEditRounds);
            w.WriteNumber("edit_rounds_saved", s.EditRoundsSaved);
            w.WriteBoolean("reached_fixed_point", s.ReachedFixedPoint);
            w.WriteNumber("tokens_per_pass", s.TotalPasses == 0 ? 0 : (double)tokens / s.TotalPasses);
            WriteIds(w, "tokens_committed_per_pass", s.TokensCommittedPerPass);
            w.WriteStartObject("edits");
            w.WriteNumber("replaced", s.Edits.Replaced);
            w.WriteNumber("deleted", s.Edits.Deleted);
            w.WriteNumber("inserted", s.Edits.Inserted);
            w.WriteNumber("insertions_dropped", s.Edits.InsertionsDropped);
            w.WriteEndObject();
            w.WriteNumber("seconds", wall.TotalSeconds);
            w.WriteNumber("onnx_runtime_seconds", s.ModelTime.TotalSeconds);
            w.WriteNumber("overhead_seconds", s.OverheadTime.TotalSeconds);
            w.WriteNumber("outside_onnx_runtime_share", StatsFormat.OutsideShare(s.ModelTime, wall));
            w.WriteEndObject();
            w.WriteEndObject();
        }
        output.WriteLine(System.Text.Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length));
    }

    private static void WriteIds(Utf8JsonWriter w, string name, IReadOnlyList<int> ids)
    {
        w.WriteStartArray(name);
        foreach (int id in ids)
        {
            w.WriteNumberValue(id);
        }
        w.WriteEndArray();
    }
}
