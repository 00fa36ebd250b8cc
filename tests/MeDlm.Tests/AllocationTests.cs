using MeDlm.Kernels;

namespace MeDlm.Tests;

/// <summary>The kernels must not allocate per call (measured on this thread once warm).</summary>
public class AllocationTests
{
    private static long Allocated(Action a) => Allocations.SteadyState(() =>
    {
        for (int i = 0; i < 5; i++)
        {
            a();
        }
    });

    [Fact]
    public void Kernels_allocate_nothing()
    {
        var r = new Random(10001);
        var row = Enumerable.Range(0, 5000).Select(_ => (float)Gen.Normal(r)).ToArray();
        var dest = new float[row.Length];
        var scratch = new ulong[row.Length];
        var ids = new int[4];
        var conf = new float[4];
        var scores = row.Select(v => (double)v).ToArray();
        var positions = new int[row.Length];
        var banned = new[] { 3, 4000 };
        var normaliserBan = new[] { 5 };
        var schedule = new int[16];
        long[] tokens = [1, 2, 3, 4, 5, 6];
        int[] cur = [1, 2, 9, 4, 7, 6], nxt = [1, 2, 3, 8, 5, 6];
        var editDest = new long[24];
        // Arguments are built outside the measured calls: a constant collection expression such as [5]
        // compiles to RuntimeHelpers.CreateSpan, which only optimised callers expand inline; in a Debug
        // build the call reaches the runtime's fallback, which allocates a field-info object per call.

        Assert.Equal(0, Allocated(() => Softmax.Compute(row, dest)));
        Assert.Equal(0, Allocated(() => Argmax.Index(row, banned)));
        Assert.Equal(0, Allocated(() => Confidence.Probability(row, 7)));
        Assert.Equal(0, Allocated(() => Confidence.Margin(row)));
        Assert.Equal(0, Allocated(() => Confidence.NegativeEntropy(row)));
        Assert.Equal(0, Allocated(() => Confidence.ArgmaxProbability(row, banned, normaliserBan, out _)));
        Assert.Equal(0, Allocated(() => Confidence.ExactProbability(row, 7, banned, normaliserBan)));
        Assert.Equal(0, Allocated(() => Sampling.GumbelArgmax(row, 1.0, 42, banned)));
        Assert.Equal(0, Allocated(() => Sampling.SampleCategorical(row, 0.8, 40, 0.9, 0.3, scratch, banned)));
        Assert.Equal(0, Allocated(() => Sampling.SampleCategorical(row, 0.8, 0, 0.9, 0.3, scratch, banned)));
        Assert.Equal(0, Allocated(() => Selection.TopK(scores, 64, positions)));
        Assert.Equal(0, Allocated(() => Selection.Threshold(scores, 1.5, positions)));
        Assert.Equal(0, Allocated(() => Schedule.BaseRemainder(100, schedule)));
        Assert.Equal(0, Allocated(() => Schedule.BaseRemainderAt(100, 16, 3)));
        Assert.Equal(0, Allocated(() => Schedule.Dream(100, schedule)));
        Assert.Equal(0, Allocated(() => Edits.Apply(tokens, 2, cur, nxt, 9, 100, editDest, out _)));
        Assert.Equal(0, Allocated(() => StageTransition.DropPadAndTerminate(editDest, 6, 2, 9, 8, true)));
    }
}
