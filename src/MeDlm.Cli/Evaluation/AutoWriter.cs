using System.Text.Encodings.Web;
using System.Text.Json.Nodes;

namespace MeDlm.Cli.Evaluation;

/// <summary>
/// <c>medlm eval --write-auto</c>: picks the measured setting that budget <c>auto</c> will select and writes it into the
/// package manifest as <c>generation.auto</c> (docs/DESIGN.md §2.11), validated by the library's manifest reader.
/// </summary>
internal static class AutoWriter
{
    /// <summary>
    /// Among the settings an auto setting can hold: the highest accuracy over all items; of those within
    /// <paramref name="tolerance"/> points of it, the fewest mean passes (then the higher accuracy, then the first).
    /// </summary>
    public static FrontierPoint? Choose(List<FrontierPoint> points, double tolerance)
    {
        ArgumentNullException.ThrowIfNull(points);
        List<FrontierPoint> candidates = points.FindAll(p => p.Auto is not null);
        double best = double.MinValue;
        foreach (FrontierPoint p in candidates)
        {
            best = Math.Max(best, p.Accuracy);
        }
        FrontierPoint? chosen = null;
        foreach (FrontierPoint p in candidates)
        {
            if (p.Accuracy >= best - tolerance - 1e-9
                && (chosen is null || p.Passes < chosen.Passes || (p.Passes == chosen.Passes && p.Accuracy > chosen.Accuracy)))
            {
                chosen = p;
            }
        }
        return chosen;
    }

    /// <summary>Writes <paramref name="auto"/> as <c>generation.auto</c>; the manifest is restored if the library rejects it.</summary>
    public static void Write(string manifestPath, AutoSetting auto)
    {
        ArgumentNullException.ThrowIfNull(auto);
        string original;
        JsonObject root;
        try
        {
            original = File.ReadAllText(manifestPath);
            root = JsonNode.Parse(original)?.AsObject() ?? throw new CliException($"{manifestPath}: not a JSON object");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException or InvalidOperationException)
        {
            throw new CliException($"{manifestPath}: cannot read the manifest ({e.Message})");
        }
        if (root["generation"] is not JsonObject generation)
        {
            throw new CliException($"{manifestPath}: generation is missing");
        }
        generation["auto"] = ToJson(auto);
        // A writer, not the serializer: no reflection (the tool is also published trimmed).
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            root.WriteTo(w);
        }
        buffer.WriteByte((byte)'\n');
        try
        {
            File.WriteAllBytes(manifestPath, buffer.ToArray());
            ModelManifest.Read(manifestPath);
        }
        catch (ModelLoadException e)
        {
            File.WriteAllText(manifestPath, original);
            throw new CliException($"{manifestPath}: the auto setting was refused and the manifest restored ({e.Message})");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CliException($"{manifestPath}: cannot write the manifest ({e.Message})");
        }
    }

    /// <summary>The setting's keys in <see cref="AutoSetting.Keys"/> order, the unset ones left out.</summary>
    public static JsonObject ToJson(AutoSetting auto)
    {
        ArgumentNullException.ThrowIfNull(auto);
        var o = new JsonObject { ["algorithm"] = DecodingAlgorithms.Name(auto.Algorithm) };
        void Add(string key, JsonNode? value)
        {
            if (value is not null)
            {
                o[key] = value;
            }
        }
        Add("budget", auto.Budget);
        Add("mask_steps", auto.MaskSteps);
        Add("block_length", auto.BlockLength);
        Add("threshold", auto.Threshold);
        Add("edit_rounds", auto.EditRounds);
        Add("edit_threshold", auto.EditThreshold);
        Add("switch_threshold", auto.SwitchThreshold);
        return o;
    }
}
