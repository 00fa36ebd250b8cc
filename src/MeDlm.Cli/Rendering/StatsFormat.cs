namespace MeDlm.Cli.Rendering;

/// <summary>The one-line summary of a generation and the JSON form of a result.</summary>
internal static class StatsFormat
{
    /// <summary>
    /// "48 passes (36 mask + 12 edit, 11 rounds saved) · 1.02 tokens/pass · edits R2 D1 I0 · 0.21 s · 9.5% outside ONNX Runtime".
    /// </summary>
    public static string Line(GenerationResult r, TimeSpan wall)
    {
        ArgumentNullException.ThrowIfNull(r);
        GenerationStats s = r.Stats;
        // The answer's tokens (up to END), not whatever the canvas holds after it.
        int tokens = r.AnswerLength;
        double perPass = s.TotalPasses == 0 ? 0 : (double)tokens / s.TotalPasses;
        string saved = s.PlannedEditRounds > 0 ? $", {s.EditRoundsSaved} rounds saved" : string.Empty;
        string dropped = s.Edits.InsertionsDropped > 0 ? $" ({s.Edits.InsertionsDropped} insertions over the length cap dropped)" : string.Empty;
        return string.Create(CultureInfo.InvariantCulture,
            $"{s.TotalPasses} passes ({s.MaskPasses} mask + {s.EditPasses} edit{saved}) · {perPass:0.00} tokens/pass · edits R{s.Edits.Replaced} D{s.Edits.Deleted} I{s.Edits.Inserted}{dropped} · {wall.TotalSeconds:0.000} s · {OutsideShare(s.ModelTime, wall):0.0%} outside ONNX Runtime");
    }

    /// <summary>Share of the wall time not spent inside ONNX Runtime runs (the runtime's own overhead).</summary>
    public static double OutsideShare(TimeSpan model, TimeSpan wall) =>
        wall <= TimeSpan.Zero ? 0 : Math.Clamp(1.0 - (model.TotalSeconds / wall.TotalSeconds), 0, 1);
}
