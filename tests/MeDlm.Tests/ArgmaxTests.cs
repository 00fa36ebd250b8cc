using MeDlm.Kernels;

namespace MeDlm.Tests;

public class ArgmaxTests
{
    [Fact]
    public void Matches_reference_with_banned_ids_ties_and_infinities()
    {
        foreach ((int it, Random r) in Gen.Runs(2001, 3000))
        {
            var (n, l, banned) = Gen.BannedRow(r);
            Assert.Equal(Reference.Argmax(l, banned), Argmax.Index(l, banned));
        }
    }

    [Fact]
    public void Ties_go_to_the_lowest_index_across_blocks_and_signed_zeros()
    {
        var l = new float[3000];
        Array.Fill(l, -1f);
        l[2500] = 7;
        l[1500] = 7;
        l[1501] = 7;
        Assert.Equal(1500, Argmax.Index(l));
        Assert.Equal(1501, Argmax.Index(l, [1500]));
        Assert.Equal(2500, Argmax.Index(l, [1500, 1501]));
        Assert.Equal(0, Argmax.Index([-0f, 0f]));
        Assert.Equal(0, Argmax.Index([0f, -0f]));
    }

    [Fact]
    public void All_negative_infinity_returns_lowest_allowed_index()
    {
        float ninf = float.NegativeInfinity;
        Assert.Equal(0, Argmax.Index([ninf, ninf, ninf]));
        Assert.Equal(2, Argmax.Index([ninf, ninf, ninf], [0, 1]));
        Assert.Equal(-1, Argmax.Index([1f, 2f], [0, 1]));
        Assert.Equal(-1, Argmax.Index([]));
        Assert.Equal(1, Argmax.Index([9f, 2f], [0]));
    }

    [Fact]
    public void Huge_logits_are_compared_exactly()
    {
        Assert.Equal(1, Argmax.Index([1e4f, 1e4f + 1f, 1e4f - 1f]));
        Assert.Equal(2, Argmax.Index([float.MinValue, 0f, float.MaxValue]));
        Assert.Equal(1, Argmax.Index([float.MaxValue, float.PositiveInfinity]));
    }
}
