using Spectre.Console;

namespace MeDlm.Cli.Commands;

internal sealed class GoldenSettings : ModelSettings
{
    [CommandArgument(0, "<FILE>")]
    [Description("A decoder golden file written by export/golden.py (e.g. tests/golden/medlm-tiny/decoders.json)")]
    public string File { get; set; } = "";

    [CommandOption("--out <FILE>")]
    [Description("Also write every row's response ids here (JSON), to compare runs on two devices")]
    public string? Out { get; set; }
}

/// <summary>
/// `medlm golden`: runs every case of a decoder golden file as one batch on the loaded package and device
/// and compares each row's draft, response, passes and edits with the PyTorch reference's, token for token.
/// The GPU check runs it on CUDA (TF32 off) to show the CPU's tokens there. Exit 1 when any row differs.
/// </summary>
internal sealed class GoldenCommand : Command<GoldenSettings>
{
    public override int Execute(CommandContext context, GoldenSettings settings, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(settings);
        string path = Path.GetFullPath(settings.File);
        if (!System.IO.File.Exists(path))
        {
            throw new CliException($"{path}: golden file not found");
        }
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(System.IO.File.ReadAllBytes(path));
        }
        catch (JsonException e)
        {
            throw new CliException($"{path}: not JSON ({e.Message})");
        }
        using (doc)
        {
            using ModelPackage package = Runtime.Load(settings);
            using var generator = new Generator(package);
            int cases = 0, passed = 0, rows = 0;
            using var outBuffer = new MemoryStream();
            using (var w = new Utf8JsonWriter(outBuffer))
            {
                w.WriteStartObject();
                w.WriteString("model", package.Manifest.Name);
                w.WriteString("device", package.ExecutionProvider.ToString().ToLowerInvariant());
                w.WriteStartObject("cases");
                foreach (JsonElement c in Required(doc.RootElement, "cases", path).EnumerateArray())
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    string name = Required(c, "name", path).GetString() ?? "";
                    JsonElement[] expected = [.. Required(c, "rows", path).EnumerateArray()];
                    var requests = new GenerationRequest[expected.Length];
                    for (int r = 0; r < expected.Length; r++)
                    {
                        requests[r] = ToRequest(c, expected[r], r, path);
                    }
                    IReadOnlyList<GenerationResult> results = Runtime.Checked(() => generator.GenerateBatch(requests, cancellationToken));
                    var problems = new List<string>();
                    w.WriteStartArray(name);
                    for (int r = 0; r < expected.Length; r++)
                    {
                        string? why = Compare(expected[r], results[r]);
                        if (why is not null)
                        {
                            problems.Add(string.Create(CultureInfo.InvariantCulture, $"row {r}: {why}"));
                        }
                        w.WriteStartArray();
                        foreach (int id in results[r].TokenIds)
                        {
                            w.WriteNumberValue(id);
                        }
                        w.WriteEndArray();
                    }
                    w.WriteEndArray();
                    cases++;
                    rows += expected.Length;
                    if (problems.Count == 0)
                    {
                        passed++;
                        Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"ok       {name} ({expected.Length} rows)"));
                    }
                    else
                    {
                        Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"MISMATCH {name}: {string.Join("; ", problems)}"));
                    }
                }
                w.WriteEndObject();
                w.WriteEndObject();
            }
            if (settings.Out is { } outFile)
            {
                System.IO.File.WriteAllBytes(outFile, outBuffer.ToArray());
            }
            Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"golden {Path.GetFileName(path)} on {package.ExecutionProvider.ToString().ToLowerInvariant()}: {passed}/{cases} cases token-identical ({rows} rows)"));
            return passed == cases ? ExitCodes.Ok : ExitCodes.RuntimeError;
        }
    }

    private static JsonElement Required(JsonElement obj, string key, string path) =>
        obj.ValueKind == JsonValueKind.Object && obj.TryGetProperty(key, out JsonElement v)
            ? v
            : throw new CliException($"{path}: not a decoder golden file (no \"{key}\")");

    /// <summary>The request of one golden row (the settings export/golden.py wrote for its case).</summary>
    private static GenerationRequest ToRequest(JsonElement golden, JsonElement row, int index, string path)
    {
        JsonElement s = Required(golden, "settings", path);
        string algorithmName = Required(golden, "algorithm", path).GetString() ?? "";
        if (!DecodingAlgorithms.TryParse(algorithmName, out DecodingAlgorithm algorithm))
        {
            throw new CliException($"{path}: unknown algorithm \"{algorithmName}\"");
        }
        bool medlm = algorithm == DecodingAlgorithm.MeDlm;
        long seed = s.TryGetProperty("seeds", out JsonElement seeds) && seeds.ValueKind == JsonValueKind.Array ? seeds[index].GetInt64() : 0;
        return new GenerationRequest
        {
            PromptTokenIds = Ints(Required(row, "prompt_ids", path)),
            GenLength = Required(s, "gen_length", path).GetInt32(),
            Algorithm = algorithm,
            MaskSteps = medlm ? Required(s, "mask_steps", path).GetInt32() : Optional(s, "steps"),
            EditSteps = medlm ? Required(s, "edit_steps", path).GetInt32() : 0,
            LengthCap = Optional(s, "cap"),
            BlockLength = Optional(s, "block_length"),
            Temperature = OptionalDouble(s, "temperature") ?? 0.0,
            CfgScale = OptionalDouble(s, "cfg_scale") ?? 0.0,
            Threshold = OptionalDouble(s, "threshold"),
            Seed = seed,
            LogitsEosInf = s.TryGetProperty("logits_eos_inf", out JsonElement le) && le.GetBoolean(),
            ConfidenceEosEotInf = s.TryGetProperty("confidence_eos_eot_inf", out JsonElement ce) && ce.GetBoolean(),
        };
    }

    /// <summary>Null when the row matches the reference, else what differs first.</summary>
    private static string? Compare(JsonElement expected, GenerationResult actual)
    {
        if (!Ints(expected.GetProperty("draft")).SequenceEqual(actual.DraftTokenIds))
        {
            return "draft differs";
        }
        if (!Ints(expected.GetProperty("response")).SequenceEqual(actual.TokenIds))
        {
            return "response differs";
        }
        if (expected.GetProperty("mask_passes").GetInt32() != actual.Stats.MaskPasses
            || expected.GetProperty("edit_rounds").GetInt32() != actual.Stats.EditPasses)
        {
            return "pass counts differ";
        }
        JsonElement edits = expected.GetProperty("edits");
        EditTotals e = actual.Stats.Edits;
        if (edits.GetProperty("replaced").GetInt32() != e.Replaced || edits.GetProperty("deleted").GetInt32() != e.Deleted
            || edits.GetProperty("inserted").GetInt32() != e.Inserted)
        {
            return "edit counts differ";
        }
        return null;
    }

    private static int[] Ints(JsonElement a)
    {
        var ids = new int[a.GetArrayLength()];
        int i = 0;
        foreach (JsonElement e in a.EnumerateArray())
        {
            ids[i++] = e.GetInt32();
        }
        return ids;
    }

    private static int? Optional(JsonElement s, string key) =>
        s.TryGetProperty(key, out JsonElement v) && v.ValueKind == JsonValueKind.Number ? v.GetInt32() : null;

    private static double? OptionalDouble(JsonElement s, string key) =>
        s.TryGetProperty(key, out JsonElement v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : null;
}
