using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace MeDlm.Benchmarks;

/// <summary>copy-baseline mean / this mean: the kernel's throughput as a fraction of a plain memory copy
/// of the same bytes (the target for vocabulary-wide kernels is 0.5 or more).</summary>
public sealed class ThroughputVsCopyColumn : IColumn
{
    public string Id => nameof(ThroughputVsCopyColumn);
    public string ColumnName => "ThroughputVsCopy";
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 0;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => "Copy baseline mean time / this mean time (1.0 = as fast as copying the same bytes)";

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public bool IsAvailable(Summary summary) => true;

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        string key = summary.GetLogicalGroupKey(benchmarkCase) ?? string.Empty;
        BenchmarkCase? baseline = summary.GetBaseline(key);
        double? mine = summary[benchmarkCase]?.ResultStatistics?.Mean;
        double? copy = baseline is null ? null : summary[baseline]?.ResultStatistics?.Mean;
        if (mine is null || copy is null || mine.Value <= 0)
        {
            return "?";
        }
        return (copy.Value / mine.Value).ToString("0.00", System.Globalization.CultureInfo.InvariantCulture);
    }
}
