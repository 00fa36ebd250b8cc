using MeDlm.Kernels;

namespace MeDlm.Tests;

public class ScheduleTests
{
    [Fact]
    public void BaseRemainder_matches_reference()
    {
        for (int n = 0; n <= 70; n++)
        {
            for (int steps = 1; steps <= 20; steps++)
            {
                var d = new int[steps];
                Schedule.BaseRemainder(n, d);
                Assert.Equal(Reference.BaseRemainder(n, steps), d);
                Assert.Equal(n, d.Sum());
                for (int s = 0; s < steps; s++)
                {
                    Assert.Equal(d[s], Schedule.BaseRemainderAt(n, steps, s)); // the decoder's per-pass query
                }
            }
        }
        Schedule.BaseRemainder(0, []);
        Assert.Throws<ArgumentException>(() => Schedule.BaseRemainder(3, []));
        Assert.Throws<ArgumentOutOfRangeException>(() => Schedule.BaseRemainderAt(3, 0, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => Schedule.BaseRemainderAt(-1, 2, 0));
    }

    [Theory]
    // Pinned with an independent implementation (Python floats, t_i = 1 + i*((eps-1)/steps)).
    [InlineData(512, 8, new[] { 63, 64, 64, 64, 64, 64, 64, 65 })]
    [InlineData(100, 7, new[] { 14, 14, 14, 14, 14, 14, 16 })]
    [InlineData(5, 10, new[] { 0, 0, 0, 0, 0, 0, 1, 1, 1, 2 })]
    public void Dream_schedule_matches_pinned_values(int masks, int steps, int[] expected)
    {
        var d = new int[steps];
        Schedule.Dream(masks, d);
        Assert.Equal(expected, d);
    }

    [Fact]
    public void Dream_timesteps_match_numpy_linspace_definition()
    {
        double[] expected = [1.0, 0.875125, 0.75025, 0.625375, 0.5005, 0.375625, 0.25075000000000003, 0.12587499999999996, 0.001];
        for (int i = 0; i <= 8; i++)
        {
            Assert.Equal(expected[i], Schedule.DreamTimestep(i, 8));
        }
    }

    [Fact]
    public void Dream_counts_follow_the_formula_and_finish_at_the_last_step()
    {
        var r = new Random(6001);
        for (int it = 0; it < 500; it++)
        {
            int steps = r.Next(1, 80);
            int masks = r.Next(0, 600);
            var d = new int[steps];
            Schedule.Dream(masks, d);
            Assert.Equal(masks, d.Sum());
            int left = masks;
            for (int i = 0; i < steps - 1; i++)
            {
                double t = 1.0 - (i * 0.999 / steps), s = 1.0 - ((i + 1) * 0.999 / steps);
                double exact = left * (1 - (s / t));
                Assert.InRange(d[i], Math.Floor(exact - 1e-9), Math.Floor(exact + 1e-9));
                left -= d[i];
            }
        }
    }
}
