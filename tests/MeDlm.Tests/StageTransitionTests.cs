using MeDlm.Kernels;

namespace MeDlm.Tests;

public class StageTransitionTests
{
    private const long Pad = 9, End = 8;

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Random_rows_match_reference(bool editRoundsFollow)
    {
        var r = new Random(8001);
        for (int it = 0; it < 2000; it++)
        {
            int len = r.Next(0, 40);
            int prompt = r.Next(0, len + 1);
            var row = Enumerable.Range(0, len).Select(_ => (long)(r.Next(3) == 0 ? Pad : r.Next(8))).ToArray();
            var buf = row.Concat([77L, 77L]).ToArray();
            int n = StageTransition.DropPadAndTerminate(buf, len, prompt, Pad, End, editRoundsFollow);
            Assert.Equal(Reference.DropPad(row, prompt, Pad, End, editRoundsFollow), buf[..n]);
            Assert.Equal([77L, 77L], buf[^2..]);
        }
    }

    [Fact]
    public void Examples()
    {
        long[] row = [1, 2, 9, 3, 9, 4, 9, 9];
        int n = StageTransition.DropPadAndTerminate(row, 8, 3, Pad, End, true);
        Assert.Equal([1L, 2, 9, 3, 8], row[..n]); // the prompt's PAD stays; last response token -> END
        long[] empty = [1, 2, 9, 9];
        n = StageTransition.DropPadAndTerminate(empty, 4, 2, Pad, End, true);
        Assert.Equal([1L, 2], empty[..n]); // empty response: nothing overwritten
    }
}
