using MeDlm.Generation;
using MeDlm.Model;
using MeDlm.Sessions;
using Xunit.Abstractions;

namespace MeDlm.Tests.Generation;

/// <summary>
/// Shape buckets (ModelOptions.ShapeBucket): passes padded to a multiple of the bucket length and to a
/// batch of 1/2/4/8/8k rows give the same tokens as exact shapes (the CPU default, GoldenDecoderTests): every
/// golden case runs with buckets of 64 here, and an edit-heavy batch binds a few shapes only.
/// </summary>
public sealed class ShapeBucketTests(ITestOutputHelper output)
{
    private static readonly Lazy<ModelPackage> Buckets = new(() =>
        ModelPackage.Load(TestModels.TinyPackagePath, new ModelOptions { ShapeBucket = 64 }));

    private static ModelPackage ExactShapes => TestModels.TinyPackage;

    [Theory]
    [MemberData(nameof(GoldenDecoderTests.CaseNames), MemberType = typeof(GoldenDecoderTests))]
    public void Bucketed_shapes_match_the_reference(string caseName)
    {
        Assert.Equal(64, Buckets.Value.Options.ShapeBucket);
        GoldenDecoderTests.AssertCase(Buckets.Value, caseName);
    }

    [Fact]
    public void Buckets_default_to_exact_shapes_on_the_cpu_and_64_on_cuda()
    {
        Assert.Null(ExactShapes.Options.ShapeBucket);
        using var runner = new ModelRunner(ExactShapes);
        Assert.Equal(1, runner.ShapeBucket);
        Assert.Equal(64, new ModelOptions().EffectiveShapeBucket(ExecutionProvider.Cuda));
        Assert.Equal(1, new ModelOptions().EffectiveShapeBucket(ExecutionProvider.Cpu));
        Assert.Equal(32, new ModelOptions { ShapeBucket = 32 }.EffectiveShapeBucket(ExecutionProvider.Cpu));
        Assert.Equal(0, new ModelOptions { ShapeBucket = 0 }.EffectiveShapeBucket(ExecutionProvider.Cuda));
    }

    [Fact]
    public void An_edit_heavy_batch_binds_few_shapes_with_buckets_and_the_same_tokens()
    {
        // Edit rounds insert and delete: with exact shapes each new longest row is a new shape.
        GenerationRequest[] requests =
        [
            Request("write add_k(items) with k = 13"),
            Request("write count_gt(data) with k = 7"),
            Request("ann has 3 pens and gets 5 more. how many pens now?"),
            Request("x"),
            Request("write sum_gt(vals) with k = 22"),
        ];
        using var bucketed = new Generator(Buckets.Value);
        using var exact = new Generator(ExactShapes);
        IReadOnlyList<GenerationResult> a = bucketed.GenerateBatch(requests);
        IReadOnlyList<GenerationResult> b = exact.GenerateBatch(requests);
        int edits = 0;
        for (int i = 0; i < requests.Length; i++)
        {
            Assert.Equal(b[i].TokenIds, a[i].TokenIds);
            Assert.Equal(b[i].DraftTokenIds, a[i].DraftTokenIds);
            Assert.Equal(b[i].Stats.Edits, a[i].Stats.Edits);
            edits += a[i].Stats.EditPasses;
        }
        int withBuckets = bucketed.Runner.ShapeBindings;
        int withoutBuckets = exact.Runner.ShapeBindings;
        output.WriteLine($"{edits} edit rounds over {requests.Length} rows: {withBuckets} shapes bound with buckets of 64, {withoutBuckets} with exact shapes");
        Assert.True(edits >= 10, $"only {edits} edit rounds: the batch does not exercise edits");
        // One length bucket; the batch shrinks through its buckets 8, 4, 2, 1 as rows finish.
        Assert.True(withBuckets <= 4, $"{withBuckets} shapes bound with buckets");
        Assert.True(withoutBuckets > withBuckets, $"exact shapes bound {withoutBuckets}, buckets {withBuckets}");

        static GenerationRequest Request(string prompt) => new() { Prompt = prompt, MaskSteps = 6, EditSteps = 8 };
    }

    [Theory]
    [InlineData(1, 64, 128, 64)]
    [InlineData(64, 64, 128, 64)]
    [InlineData(65, 64, 128, 128)]
    [InlineData(100, 64, 110, 110)] // capped at max_sequence_length
    [InlineData(120, 64, 100, 120)] // never below the rows' own length
    [InlineData(67, 1, 128, 67)]
    [InlineData(67, 0, 128, 67)]
    public void Lengths_round_up_to_the_bucket_within_the_context(int seq, int bucket, int maxSeq, int expected) =>
        Assert.Equal(expected, ModelRunner.BucketLength(seq, bucket, maxSeq));

    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 2)]
    [InlineData(3, 4)]
    [InlineData(5, 8)]
    [InlineData(8, 8)]
    [InlineData(9, 16)]
    [InlineData(17, 24)]
    public void Batches_round_up_to_powers_of_two_then_multiples_of_eight(int batch, int expected) =>
        Assert.Equal(expected, ModelRunner.BucketBatch(batch));

    [Fact]
    public void Packing_pads_the_shape_and_exact_shapes_stay_exact()
    {
        using var bucketed = new ModelRunner(Buckets.Value);
        Assert.Equal((4, 128), bucketed.Bucketed(3, 70));
        using var exact = new ModelRunner(ExactShapes);
        Assert.Equal((3, 70), exact.Bucketed(3, 70));
        // Through the decoder's packing: three rows of 70 positions bind 4 x 128 with mask-0 padding.
        using var generator = new Generator(TestModels.TinyPackage);
        var plans = new List<MeDlm.Decoding.RowPlan>();
        foreach (string prompt in (string[])["write add_k(items) with k = 13", "x", "ann has 3 pens"])
        {
            plans.Add(new MeDlm.Decoding.RowPlan(plans.Count, generator.Plan(new GenerationRequest { Prompt = prompt }), TestModels.TinyPackage.Manifest.SpecialTokens));
        }
        var decoder = new MeDlm.Decoding.BatchDecoder(bucketed, TestModels.TinyPackage.Manifest.SpecialTokens);
        decoder.Start(plans);
        Assert.True(MeDlm.Decoding.BatchPacking.Pack(decoder.Rows, bucketed, TestModels.TinyPackage.Manifest.SpecialTokens, out _));
        Assert.Equal(4, bucketed.Batch);
        Assert.Equal(0, bucketed.Seq % 64);
        int longest = 0;
        foreach (MeDlm.Decoding.RowState row in decoder.Rows)
        {
            longest = Math.Max(longest, row.Length);
            Assert.Equal(row.Length, bucketed.AttentionMask.Slice(row.BatchRow * bucketed.Seq, bucketed.Seq).Count(1L));
        }
        Assert.True(bucketed.Seq >= longest && bucketed.Seq - longest < 64);
        Assert.Equal(0, bucketed.AttentionMask.Slice(3 * bucketed.Seq).Count(1L));
    }
}
