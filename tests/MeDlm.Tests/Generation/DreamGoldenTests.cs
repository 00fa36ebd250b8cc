using System.Text.Json;
using MeDlm.Decoding;
using MeDlm.Generation;
using MeDlm.Model;

namespace MeDlm.Tests.Generation;

/// <summary>
/// Token-for-token parity of the Dream decoder with export/decoding.py's dream_generate through the golden
/// file of export/golden_dream.py on the tiny random Dream-layout package: each case as one batch of mixed
/// prompt lengths, each row alone, and through continuous batching (one row joins per pass).
/// </summary>
public sealed class DreamGoldenTests
{
    private static readonly Lazy<ModelPackage> Package = new(() => ModelPackage.Load(PackagePath));

    public static string PackagePath => Path.Combine(TestModels.RepoRoot, "tests", "fixtures", "packages", "tiny-dream");

    public static string GoldenPath => Path.Combine(TestModels.RepoRoot, "tests", "golden", "tiny-dream", "decoders.json");

    public static ModelPackage DreamPackage => Package.Value;

    public static TheoryData<string> CaseNames()
    {
        var data = new TheoryData<string>();
        using var doc = JsonDocument.Parse(File.ReadAllBytes(GoldenPath));
        foreach (JsonElement c in doc.RootElement.GetProperty("cases").EnumerateArray())
        {
            data.Add(c.GetProperty("name").GetString()!);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Batch_single_and_continuous_rows_match_the_reference(string caseName)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(GoldenPath));
        JsonElement golden = default;
        foreach (JsonElement c in doc.RootElement.GetProperty("cases").EnumerateArray())
        {
            if (c.GetProperty("name").GetString() == caseName)
            {
                golden = c;
            }
        }
        Assert.Equal(JsonValueKind.Object, golden.ValueKind);
        using var generator = new Generator(DreamPackage);
        JsonElement[] rows = [.. golden.GetProperty("rows").EnumerateArray()];
        var requests = new GenerationRequest[rows.Length];
        for (int r = 0; r < rows.Length; r++)
        {
            requests[r] = ToRequest(golden, rows[r], r);
        }
        IReadOnlyList<GenerationResult> batch = generator.GenerateBatch(requests);
        for (int r = 0; r < rows.Length; r++)
        {
            AssertRow(rows[r], batch[r], $"{caseName} row {r} (batch)");
            AssertRow(rows[r], generator.Generate(requests[r]), $"{caseName} row {r} (alone)");
        }
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
            AssertRow(rows[r], Assert.IsType<GenerationResult>(joined[r]), $"{caseName} row {r} (continuous)");
        }
    }

    private static GenerationRequest ToRequest(JsonElement golden, JsonElement row, int index)
    {
        JsonElement s = golden.GetProperty("settings");
        Assert.True(DecodingAlgorithms.TryParse(golden.GetProperty("algorithm").GetString(), out DecodingAlgorithm algorithm));
        long seed = s.TryGetProperty("seeds", out JsonElement seeds) ? seeds[index].GetInt64() : 0;
        return new GenerationRequest
        {
            PromptTokenIds = [.. row.GetProperty("prompt_ids").EnumerateArray().Select(e => e.GetInt32())],
            GenLength = s.GetProperty("gen_length").GetInt32(),
            Algorithm = algorithm,
            MaskSteps = s.GetProperty("steps").GetInt32(),
            Temperature = s.TryGetProperty("temperature", out JsonElement t) ? t.GetDouble() : 0.0,
            TopP = s.TryGetProperty("top_p", out JsonElement p) ? p.GetDouble() : 1.0,
            TopK = s.TryGetProperty("top_k", out JsonElement k) ? k.GetInt32() : 0,
            AlgTemp = s.TryGetProperty("alg_temp", out JsonElement a) ? a.GetDouble() : 0.0,
            Seed = seed,
        };
    }

    private static int[] Ints(JsonElement a) => [.. a.EnumerateArray().Select(e => e.GetInt32())];

    private static void AssertRow(JsonElement expected, GenerationResult actual, string where)
    {
        JsonElement[] commits = [.. expected.GetProperty("commits").EnumerateArray()];
        Assert.True(commits.Length == actual.Stats.CommittedPositions.Count,
            $"{where}: {actual.Stats.CommittedPositions.Count} passes, expected {commits.Length}");
        for (int s = 0; s < commits.Length; s++)
        {
            int[] want = Ints(commits[s]);
            IReadOnlyList<int> got = actual.Stats.CommittedPositions[s];
            Assert.True(want.SequenceEqual(got), $"{where}: pass {s} committed [{string.Join(',', got)}], expected [{string.Join(',', want)}]");
        }
        int[] response = Ints(expected.GetProperty("response"));
        Assert.True(response.SequenceEqual(actual.TokenIds),
            $"{where}: response [{string.Join(',', actual.TokenIds)}], expected [{string.Join(',', response)}]");
        Assert.Equal(expected.GetProperty("mask_passes").GetInt32(), actual.Stats.MaskPasses);
        Assert.Equal(0, actual.Stats.EditPasses);
        Assert.Equal(expected.GetProperty("text").GetString(), DreamPackage.Tokenizer.Decode([.. actual.TokenIds], skipSpecialTokens: true));
    }
}
