namespace MeDlm.Tests;

/// <summary>Measures what code allocates on the calling thread once it is warm.</summary>
internal static class Allocations
{
    /// <summary>
    /// Bytes allocated by one run of <paramref name="window"/>: the least of a few runs, after a warm-up run.
    /// A per-call allocation shows in every run; a one-off of the runtime (a type load or a tiering
    /// transition that happens to land in one window on a busy machine) does not, so it cannot fail a test.
    /// </summary>
    public static long SteadyState(Action window, int runs = 3)
    {
        window();
        long least = long.MaxValue;
        for (int i = 0; i < runs; i++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            window();
            least = Math.Min(least, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        return least;
    }
}
