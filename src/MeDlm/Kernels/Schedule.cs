namespace MeDlm.Kernels;

/// <summary>How many masked positions each denoising step commits.</summary>
public static class Schedule
{
    /// <summary>
    /// Base + remainder (ME-DLM and LLaDA): with S = dest.Length steps, step s commits
    /// count div S, plus one for the first count mod S steps. Sums to <paramref name="count"/>.
    /// </summary>
    public static void BaseRemainder(int count, Span<int> dest)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        int steps = dest.Length;
        if (steps == 0)
        {
            if (count != 0)
            {
                throw new ArgumentException("At least one step is needed to commit a positive count.", nameof(dest));
            }
            return;
        }
        for (int s = 0; s < steps; s++)
        {
            dest[s] = BaseRemainderAt(count, steps, s);
        }
    }

    /// <summary>
    /// Step <paramref name="step"/> of <see cref="BaseRemainder"/> alone (what a decoder asks each pass):
    /// count div steps, plus one when step &lt; count mod steps.
    /// </summary>
    public static int BaseRemainderAt(int count, int steps, int step)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(steps);
        ArgumentOutOfRangeException.ThrowIfNegative(step);
        return (count / steps) + (step < count % steps ? 1 : 0);
    }

    /// <summary>
    /// Dream's timestep t_i for i in [0, steps]: <c>linspace(1, eps, steps + 1)</c> in float64, defined as
    /// t_i = 1 + i·((eps - 1) / steps) for i &lt; steps and t_steps = eps exactly
    /// (bit-identical to <c>numpy.linspace(1.0, eps, steps + 1)</c>; Dream itself uses float32 torch.linspace,
    /// which can differ in the last bit).
    /// Dream only: not on the ME-DLM / LLaDA decoding path; the Dream decoding issue wires it.
    /// </summary>
    public static double DreamTimestep(int i, int steps, double eps = 1e-3)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(steps);
        ArgumentOutOfRangeException.ThrowIfNegative(i);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(i, steps);
        return i == steps ? eps : 1.0 + (i * ((eps - 1.0) / steps));
    }

    /// <summary>
    /// Dream's number of masks to commit at step i (0-based) of <paramref name="steps"/> given
    /// <paramref name="masksRemaining"/> = m masks left before the step: with t = t_i, s = t_(i+1)
    /// (<see cref="DreamTimestep"/>), it is floor(m · (1 - s / t)) computed in float64, clamped to [0, m],
    /// and all m at the last step (i = steps - 1). Computed per sequence (Dream averages the mask count
    /// over its batch, which is the same for equal-length batches).
    /// Dream only: not on the ME-DLM / LLaDA decoding path; the Dream decoding issue wires it.
    /// </summary>
    public static int DreamTransferCount(int masksRemaining, int step, int steps, double eps = 1e-3)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(masksRemaining);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(steps);
        ArgumentOutOfRangeException.ThrowIfNegative(step);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(step, steps);
        if (step == steps - 1)
        {
            return masksRemaining;
        }
        double t = DreamTimestep(step, steps, eps);
        double s = DreamTimestep(step + 1, steps, eps);
        double k = Math.Floor(masksRemaining * (1.0 - (s / t)));
        return (int)Math.Clamp(k, 0, masksRemaining);
    }

    /// <summary>Dream's whole schedule for a sequence starting with <paramref name="masks"/> masks, assuming
    /// each step commits exactly its count: dest[i] = <see cref="DreamTransferCount"/> of the masks left.
    /// Dream only, as <see cref="DreamTransferCount"/>.</summary>
    public static void Dream(int masks, Span<int> dest, double eps = 1e-3)
    {
        int left = masks;
        for (int i = 0; i < dest.Length; i++)
        {
            int k = DreamTransferCount(left, i, dest.Length, eps);
            dest[i] = k;
            left -= k;
        }
    }
}
