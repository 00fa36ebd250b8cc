namespace MeDlm.Cli.Evaluation;

/// <summary>
/// One evaluated setting as the frontier sees it: accuracy over all items against mean forward passes per answer,
/// and the auto setting it can be (null when it cannot, or for a budget-table row). From a run of this
/// invocation or from the <c>settings</c> of an earlier <c>medlm eval --json</c> (<c>--from</c>).
/// </summary>
internal sealed record FrontierPoint(RunKind Kind, string Label, string Budget, double Passes, double Accuracy, AutoSetting? Auto)
{
    public static FrontierPoint Of(EvalRun run, List<EvalItem> items)
    {
        ArgumentNullException.ThrowIfNull(run);
        AutoSetting? auto = run.Kind == RunKind.Setting && run.Plan is { } plan ? run.Values.ToAuto(plan.Algorithm) : null;
        return new FrontierPoint(run.Kind, run.Label, run.Budget, run.MeanPasses, run.Accuracy(items, null).Percent ?? 0, auto);
    }

    /// <summary>
    /// The <c>settings</c> of an <c>eval --json</c> output (and a plot title from its model, set and G); a setting's
    /// text is read back by <see cref="DecodingValues.TryParse"/>.
    /// </summary>
    public static List<FrontierPoint> Load(string path, out string title)
    {
        var points = new List<FrontierPoint>();
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            JsonElement root = doc.RootElement;
            title = string.Create(CultureInfo.InvariantCulture,
                $"{root.GetProperty("model").GetString()} · {Path.GetFileName(root.GetProperty("set").GetString())} ({root.GetProperty("items").GetInt32()} items) · G={root.GetProperty("gen_length").GetInt32()}");
            foreach (JsonElement s in doc.RootElement.GetProperty("settings").EnumerateArray())
            {
                string mode = s.GetProperty("mode").GetString() ?? "";
                RunKind kind = mode switch { "mask_only" => RunKind.MaskOnly, "mask_edit" => RunKind.MaskEdit, _ => RunKind.Setting };
                string label = s.GetProperty("setting").GetString() ?? "";
                string budget = s.TryGetProperty("budget", out JsonElement b) ? b.GetString() ?? "" : "";
                AutoSetting? auto = null;
                if (kind == RunKind.Setting && DecodingValues.TryParse(label, DecodingValues.Defaults, out DecodingValues values, out _)
                    && s.TryGetProperty("algorithm", out JsonElement a) && DecodingValues.TryParseAlgorithm(a.GetString() ?? "", out DecodingAlgorithm algorithm))
                {
                    auto = values.ToAuto(algorithm);
                }
                double accuracy = s.GetProperty("all").ValueKind == JsonValueKind.Number ? s.GetProperty("all").GetDouble() : 0;
                points.Add(new FrontierPoint(kind, label, budget, s.GetProperty("passes_mean").GetDouble(), accuracy, auto));
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new CliException($"--from {path}: not the JSON output of medlm eval --json ({e.Message})", ExitCodes.UsageError);
        }
        return points;
    }
}
