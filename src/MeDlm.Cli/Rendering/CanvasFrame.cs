using Spectre.Console;
using Spectre.Console.Rendering;

namespace MeDlm.Cli.Rendering;

/// <summary>How a token is drawn in one frame of --visual.</summary>
internal enum CellKind
{
    Plain,
    Mask,
    Special,
    Unmasked,
    Replaced,
    Inserted,
    Deleted,
}

/// <summary>One drawn token; <see cref="Old"/> is the replaced token's text.</summary>
internal readonly record struct Cell(string Text, CellKind Kind, string? Old = null);

/// <summary>Builds and draws the frames of the live denoising view.</summary>
internal static class CanvasFrame
{
    /// <summary>
    /// The canvas after <paramref name="step"/>, with this step's changes marked. Deleted tokens (positions in
    /// the canvas before the step) are drawn in place for this one frame, so the walk merges both canvases.
    /// </summary>
    public static List<Cell> Build(GenerationStep step, IReadOnlyList<int> before, TokenText text)
    {
        ArgumentNullException.ThrowIfNull(step);
        ArgumentNullException.ThrowIfNull(before);
        ArgumentNullException.ThrowIfNull(text);
        IReadOnlyList<int> after = step.TokenIds;
        var deleted = new HashSet<int>();
        var inserted = new HashSet<int>();
        var replaced = new Dictionary<int, int>();
        var unmasked = new HashSet<int>();
        foreach (TokenChange c in step.Changes)
        {
            switch (c.Kind)
            {
                case TokenChangeKind.Deleted:
                    deleted.Add(c.Position);
                    break;
                case TokenChangeKind.Inserted:
                    inserted.Add(c.Position);
                    break;
                case TokenChangeKind.Replaced:
                    replaced[c.Position] = c.OldTokenId;
                    break;
                case TokenChangeKind.Unmasked:
                    unmasked.Add(c.Position);
                    break;
                default:
                    break;
            }
        }
        var cells = new List<Cell>(after.Count + deleted.Count);
        int b = 0;
        int a = 0;
        while (a < after.Count || (b < before.Count && deleted.Contains(b)))
        {
            if (b < before.Count && deleted.Contains(b))
            {
                cells.Add(new Cell(text.Get(before[b]), CellKind.Deleted));
                b++;
                continue;
            }
            int id = after[a];
            if (inserted.Contains(a))
            {
                cells.Add(new Cell(text.Get(id), CellKind.Inserted));
                a++;
                continue;
            }
            CellKind kind = unmasked.Contains(a) ? CellKind.Unmasked
                : replaced.ContainsKey(a) ? CellKind.Replaced
                : text.IsMask(id) ? CellKind.Mask
                : text.IsSpecial(id) ? CellKind.Special
                : CellKind.Plain;
            cells.Add(new Cell(text.Get(id), kind, replaced.TryGetValue(a, out int old) ? text.Get(old) : null));
            a++;
            b++;
        }
        return cells;
    }

    /// <summary>A canvas with nothing highlighted (the final frame).</summary>
    public static List<Cell> Static(IReadOnlyList<int> ids, TokenText text)
    {
        ArgumentNullException.ThrowIfNull(ids);
        ArgumentNullException.ThrowIfNull(text);
        var cells = new List<Cell>(ids.Count);
        foreach (int id in ids)
        {
            cells.Add(new Cell(text.Get(id), text.IsMask(id) ? CellKind.Mask : text.IsSpecial(id) ? CellKind.Special : CellKind.Plain));
        }
        return cells;
    }

    /// <summary>The frame in colour: masks dim, new tokens cyan, replaced yellow bold, inserted green underlined, deleted red struck through.</summary>
    public static IRenderable Styled(List<Cell> cells, string status)
    {
        ArgumentNullException.ThrowIfNull(cells);
        var p = new Paragraph();
        foreach (Cell c in cells)
        {
            p.Append(c.Text, c.Kind switch
            {
                CellKind.Mask => new Style(Color.Grey, decoration: Decoration.Dim),
                CellKind.Special => new Style(Color.Grey),
                CellKind.Unmasked => new Style(Color.Aqua, decoration: Decoration.Bold),
                CellKind.Replaced => new Style(Color.Yellow, decoration: Decoration.Bold),
                CellKind.Inserted => new Style(Color.Green, decoration: Decoration.Underline | Decoration.Bold),
                CellKind.Deleted => new Style(Color.Red, decoration: Decoration.Strikethrough),
                _ => Style.Plain,
            });
        }
        return new Rows(p, new Text(string.Empty), new Markup($"[grey]{Markup.Escape(status)}[/]"));
    }

    /// <summary>The frame as plain text for redirected output: [-deleted-], [+inserted+], [-old-][+new+] for replacements.</summary>
    public static string Plain(List<Cell> cells)
    {
        ArgumentNullException.ThrowIfNull(cells);
        var sb = new StringBuilder();
        foreach (Cell c in cells)
        {
            switch (c.Kind)
            {
                case CellKind.Deleted:
                    sb.Append("[-").Append(c.Text).Append("-]");
                    break;
                case CellKind.Inserted:
                    sb.Append("[+").Append(c.Text).Append("+]");
                    break;
                case CellKind.Replaced:
                    sb.Append("[-").Append(c.Old).Append("-][+").Append(c.Text).Append("+]");
                    break;
                default:
                    sb.Append(c.Text);
                    break;
            }
        }
        return sb.ToString();
    }
}
