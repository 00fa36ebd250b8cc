using System.Text.Json;
using MeDlm.Decoding;
using MeDlm.Generation;

namespace MeDlm.Tests.Generation;

/// <summary>
/// Token-for-token parity with the PyTorch reference decoders (export/decoding.py) through the golden file
/// written by export/golden.py: every case runs as one right-padded batch and each row alone, and both
/// must give the reference's draft, response, per-pass commit positions, passes, edit rounds and edits.
/// </summary>
public sealed class GoldenDecoderTests
{
    public static TheoryData<string> CaseNames()
    {
        var data = new TheoryData<string>();
        string path = TestModels.DecoderGoldenPath;
        if (!File.Exists(path))
        {
            data.Add("<missing golden file>");
            return data;
        }
        using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
        foreach (JsonElement c in doc.RootElement.GetProperty("cases").EnumerateArray())
        {
            data.Add(c.GetProperty("name").GetString()!);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Batch_and_single_rows_match_the_reference(string caseName) => AssertCase(TestModels.TinyPackage, caseName);

    /// <summary>The golden case by name.</summary>
    internal static JsonElement Case(string caseName)
    {
        string path = TestModels.DecoderGoldenPath;
        Assert.True(File.Exists(path), $"Decoder golden file {path} is missing: run export/golden.py (see its docstring).");
        using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
        foreach (JsonElement c in doc.RootElement.GetProperty("cases").EnumerateArray())
        {
            if (c.GetProperty("name").GetString() == caseName)
            {
                return c.Clone();
            }
        }
        throw new InvalidDataException($"No golden case {caseName} in {path}.");
    }

    /// <summary>The requests of a golden case, one per row.</summary>
    internal static GenerationRequest[] Requests(JsonElement golden)
    {
        JsonElement[] rows = [.. golden.GetProperty("rows").EnumerateArray()];
        var requests = new GenerationRequest[rows.Length];
        for (int r = 0; r < rows.Length; r++)
        {
            requests[r] = ToRequest(golden, rows[r], r);
        }
        return requests;
    }

    /// <summary>
    /// Runs golden case <paramref name="caseName"/> on <paramref name="package"/> as one batch, each row alone
    /// and continuously batched, and asserts the reference's tokens, passes and edits for every row.
    /// </summary>
    internal static void AssertCase(MeDlm.Model.ModelPackage package, string caseName)
    {
        JsonElement golden = Case(caseName);
        using var generator = new Generator(package);
        JsonElement[] rows = [.. golden.GetProperty("rows").EnumerateArray()];
        var requests = new GenerationRequest[rows.Length];
        for (int r = 0; r < rows.Length; r++)
        {
            requests[r] = ToRequest(golden, rows[r], r);
        }

        IReadOnlyList<GenerationResult> batch = generator.GenerateBatch(requests);
        for (int r = 0; r < rows.Length; r++)
        {
            AssertRow(package, rows[r], batch[r], $"{caseName} row {r} (batch)");
            GenerationResult alone = generator.Generate(requests[r]);
            AssertRow(package, rows[r], alone, $"{caseName} row {r} (alone)");
        }

        // Continuous batching: one row joins the running batch per pass, so each row runs beside rows at
        // other steps, and must still give the reference's tokens.
        var joined = new GenerationResult?[rows.Length];
        int offered = 0;
        generator.RunContinuous(free =>
        {
            if (offered == rows.Length)
            {
                return [];
            }
            int i = offered++;
            return [new ContinuousRequest(requests[i], result => joined[i] = result, e => throw e)];
        }, maxBatchSize: rows.Length);
        for (int r = 0; r < rows.Length; r++)
        {
            AssertRow(package, rows[r], Assert.IsType<GenerationResult>(joined[r]), $"{caseName} row {r} (continuous)");
        }
    }

    private static GenerationRequest ToRequest(JsonElement golden, JsonElement row, int index)
    {
        JsonElement s = golden.GetProperty("settings");
        DecodingAlgorithm algorithm = DecodingAlgorithms.TryParse(golden.GetProperty("algorithm").GetString(), out var a)
            ? a
            : throw new InvalidDataException("unknown algorithm");
        int[] prompt = [.. row.GetProperty("prompt_ids").EnumerateArray().Select(e => e.GetInt32())];
        bool medlm = algorithm == DecodingAlgorithm.MeDlm;
        long seed = s.TryGetProperty("seeds", out JsonElement seeds) && seeds.ValueKind == JsonValueKind.Array
            ? seeds[index].GetInt64()
            : 0;
        return new GenerationRequest
        {
            PromptTokenIds = prompt,
            GenLength = s.GetProperty("gen_length").GetInt32(),
            Algorithm = algorithm,
            MaskSteps = medlm ? s.GetProperty("mask_steps").GetInt32() : Optional(s, "steps"),
            EditSteps = medlm ? s.GetProperty("edit_steps").GetInt32() : Optional(s, "edit_steps") ?? 0,
            EditThreshold = OptionalDouble(s, "edit_threshold"),
            SwitchThreshold = OptionalDouble(s, "switch_threshold"),
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

    private static int? Optional(JsonElement s, string key) =>
        s.TryGetProperty(key, out JsonElement v) && v.ValueKind == JsonValueKind.Number ? v.GetInt32() : null;

    private static double? OptionalDouble(JsonElement s, string key) =>
        s.TryGetProperty(key, out JsonElement v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : null;

    private static int[] Ints(JsonElement a) => [.. a.EnumerateArray().Select(e => e.GetInt32())];

    private static void AssertRow(MeDlm.Model.ModelPackage package, JsonElement expected, GenerationResult actual, string where)
    {
        Assert.True(Ints(expected.GetProperty("prompt_ids")).SequenceEqual(actual.PromptTokenIds), $"{where}: prompt ids");
        JsonElement[] commits = [.. expected.GetProperty("commits").EnumerateArray()];
        Assert.True(commits.Length == actual.Stats.CommittedPositions.Count,
            $"{where}: {actual.Stats.CommittedPositions.Count} mask passes, expected {commits.Length}");
        for (int s = 0; s < commits.Length; s++)
        {
            int[] want = Ints(commits[s]);
            IReadOnlyList<int> got = actual.Stats.CommittedPositions[s];
            Assert.True(want.SequenceEqual(got), $"{where}: pass {s} committed [{string.Join(',', got)}], expected [{string.Join(',', want)}]");
        }
        int[] draft = Ints(expected.GetProperty("draft"));
        Assert.True(draft.SequenceEqual(actual.DraftTokenIds),
            $"{where}: draft [{string.Join(',', actual.DraftTokenIds)}], expected [{string.Join(',', draft)}]");
        int[] response = Ints(expected.GetProperty("response"));
        Assert.True(response.SequenceEqual(actual.TokenIds),
            $"{where}: response [{string.Join(',', actual.TokenIds)}], expected [{string.Join(',', response)}]");
        Assert.Equal(expected.GetProperty("mask_passes").GetInt32(), actual.Stats.MaskPasses);
        Assert.Equal(expected.GetProperty("edit_rounds").GetInt32(), actual.Stats.EditPasses);
        JsonElement edits = expected.GetProperty("edits");
        Assert.Equal(edits.GetProperty("replaced").GetInt32(), actual.Stats.Edits.Replaced);
        Assert.Equal(edits.GetProperty("deleted").GetInt32(), actual.Stats.Edits.Deleted);
        Assert.Equal(edits.GetProperty("inserted").GetInt32(), actual.Stats.Edits.Inserted);
        // The reference text decodes the whole response with special tokens skipped.
        Assert.Equal(expected.GetProperty("text").GetString(), package.Tokenizer.Decode([.. actual.TokenIds], skipSpecialTokens: true));
    }
}
