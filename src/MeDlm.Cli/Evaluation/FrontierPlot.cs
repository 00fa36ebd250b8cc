using ScottPlot;

namespace MeDlm.Cli.Evaluation;

/// <summary>
/// The accuracy / forward-passes frontier of an evaluation (<c>medlm eval --plot</c>), drawn by ScottPlot as PNG and
/// SVG: accuracy over all items against the mean forward passes per answer, the mask-only and the fixed-split
/// mask + edit budget curves, and every other setting as a point (the one written as budget auto marked).
/// </summary>
internal static class FrontierPlot
{
    private const int Width = 900;
    private const int Height = 560;

    /// <summary>The path without a .png / .svg extension: the files are written next to each other.</summary>
    public static string Base(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        string ext = Path.GetExtension(path);
        return ext.Equals(".png", StringComparison.OrdinalIgnoreCase) || ext.Equals(".svg", StringComparison.OrdinalIgnoreCase)
            ? path[..^ext.Length]
            : path;
    }

    public static void Write(string path, string title, List<FrontierPoint> runs, FrontierPoint? auto)
    {
        ArgumentNullException.ThrowIfNull(runs);
        string stem = Path.GetFullPath(Base(path));
        var plot = new Plot();
        Curve(plot, runs, RunKind.MaskOnly, "mask only (fixed budgets)", Colors.Gray);
        Curve(plot, runs, RunKind.MaskEdit, "mask + edit, fixed split", Colors.SteelBlue);
        List<FrontierPoint> settings = runs.FindAll(r => r.Kind == RunKind.Setting && r != auto);
        if (settings.Count > 0)
        {
            var points = plot.Add.ScatterPoints(Xs(settings), Ys(settings), Colors.DarkOrange);
            points.MarkerSize = 7;
            points.LegendText = "adaptive settings";
        }
        if (auto is not null)
        {
            var star = plot.Add.ScatterPoints(Xs([auto]), Ys([auto]), Colors.Crimson);
            star.MarkerShape = MarkerShape.FilledDiamond;
            star.MarkerSize = 13;
            star.LegendText = "budget auto";
        }
        plot.Title(title);
        plot.XLabel("mean forward passes per answer");
        plot.YLabel("accuracy, all items (%)");
        plot.ShowLegend(Alignment.LowerRight);
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(stem)!);
            plot.SavePng(stem + ".png", Width, Height);
            plot.SaveSvg(stem + ".svg", Width, Height);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CliException($"{stem}: cannot write the plot ({e.Message})");
        }
    }

    private static void Curve(Plot plot, List<FrontierPoint> runs, RunKind kind, string legend, Color color)
    {
        List<FrontierPoint> curve = runs.FindAll(r => r.Kind == kind);
        if (curve.Count == 0)
        {
            return;
        }
        // Along the passes axis, so that the line joins neighbours.
        curve.Sort((a, b) => a.Passes.CompareTo(b.Passes));
        double[] xs = Xs(curve), ys = Ys(curve);
        var line = plot.Add.Scatter(xs, ys, color);
        line.LegendText = legend;
        line.MarkerSize = 7;
        line.LineWidth = 2;
        for (int i = 0; i < curve.Count; i++)
        {
            var text = plot.Add.Text(curve[i].Budget, xs[i], ys[i]);
            text.LabelFontColor = color;
            text.LabelFontSize = 11;
            text.LabelOffsetX = 6;
            text.LabelOffsetY = -6;
        }
    }

    private static double[] Xs(List<FrontierPoint> points) => points.ConvertAll(p => p.Passes).ToArray();

    private static double[] Ys(List<FrontierPoint> points) => points.ConvertAll(p => p.Accuracy).ToArray();
}
