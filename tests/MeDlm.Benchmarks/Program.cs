using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Running;

namespace MeDlm.Benchmarks;

/// <summary>
/// Kernel benchmarks. Each class holds a memory-copy baseline over the same number of bytes the kernels
/// read, so "Ratio" is kernel time / copy time and "ThroughputVsCopy" its inverse (1.0 = as fast as a copy).
/// Run everything with:  dotnet run -c Release --project tests/MeDlm.Benchmarks -- --filter '*' --job short
/// </summary>
public static class Program
{
    public static void Main(string[] args)
    {
        var config = DefaultConfig.Instance
            .AddDiagnoser(MemoryDiagnoser.Default)
            .AddColumn(new ThroughputVsCopyColumn())
            .WithOptions(ConfigOptions.DisableLogFile);
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, config);
    }
}
