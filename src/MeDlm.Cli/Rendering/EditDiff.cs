using MeDlm.Tokenization;
using Spectre.Console;

namespace MeDlm.Cli.Rendering;

/// <summary>A run of the draft-to-answer alignment: unchanged text, or what was removed and what came in its place.</summary>
internal readonly record struct DiffSegment(DiffKind Kind, string Old, string New);

/// <summary>Renders the token alignment of draft and answer as marked text (--show-edits).</summary>
internal static class EditDiff
{
    /// <summary>Merges the alignment into runs and decodes each run (a run of ids decodes whole characters).</summary>
    public static List<DiffSegment> Segments(List<DiffOp> ops, MeDlmTokenizer tokenizer)
    {
        ArgumentNullException.ThrowIfNull(ops);
        ArgumentNullException.ThrowIfNull(tokenizer);
        var segments = new List<DiffSegment>();
        var same = new List<int>();
        var removed = new List<int>();
        var added = new List<int>();
        void FlushSame()
        {
            if (same.Count > 0)
            {
                string t = tokenizer.Decode(same.ToArray(), skipSpecialTokens: true);
                segments.Add(new DiffSegment(DiffKind.Equal, t, t));
                same.Clear();
            }
        }
        void FlushChange()
        {
            if (removed.Count == 0 && added.Count == 0)
            {
                return;
            }
            DiffKind kind = removed.Count == 0 ? DiffKind.Insert : added.Count == 0 ? DiffKind.Delete : DiffKind.Replace;
            segments.Add(new DiffSegment(kind, tokenizer.Decode(removed.ToArray(), skipSpecialTokens: true),
                tokenizer.Decode(added.ToArray(), skipSpecialTokens: true)));
            removed.Clear();
            added.Clear();
        }
        foreach (DiffOp op in ops)
        {
            if (op.Kind == DiffKind.Equal)
            {
                FlushChange();
                same.Add(op.New);
                continue;
            }
            FlushSame();
            if (op.Old >= 0)
            {
                removed.Add(op.Old);
            }
            if (op.New >= 0)
            {
                added.Add(op.New);
            }
        }
        FlushSame();
        FlushChange();
        return segments;
    }

    /// <summary>Plain text: deleted as [-old-], inserted as [+new+], replaced as [-old-][+new+].</summary>
    public static string Plain(List<DiffSegment> segments)
    {
        ArgumentNullException.ThrowIfNull(segments);
        var sb = new System.Text.StringBuilder();
        foreach (DiffSegment s in segments)
        {
            if (s.Kind == DiffKind.Equal)
            {
                sb.Append(s.Old);
                continue;
            }
            if (s.Old.Length > 0)
            {
                sb.Append("[-").Append(Visible(s.Old)).Append("-]");
            }
            if (s.New.Length > 0)
            {
                sb.Append("[+").Append(Visible(s.New)).Append("+]");
            }
        }
        return sb.ToString();
    }

    /// <summary>Spectre markup: the same markers, deleted red and struck through, inserted green and underlined.</summary>
    public static string Markup(List<DiffSegment> segments)
    {
        ArgumentNullException.ThrowIfNull(segments);
        var sb = new System.Text.StringBuilder();
        foreach (DiffSegment s in segments)
        {
            if (s.Kind == DiffKind.Equal)
            {
                sb.Append(Spectre.Console.Markup.Escape(s.Old));
                continue;
            }
            if (s.Old.Length > 0)
            {
                sb.Append("[red strikethrough]").Append(Spectre.Console.Markup.Escape("[-" + Visible(s.Old) + "-]")).Append("[/]");
            }
            if (s.New.Length > 0)
            {
                sb.Append("[green underline]").Append(Spectre.Console.Markup.Escape("[+" + Visible(s.New) + "+]")).Append("[/]");
            }
        }
        return sb.ToString();
    }

    /// <summary>A changed newline would be invisible inside the markers: show it as ↵ before the line break.</summary>
    private static string Visible(string s) => s.Replace("\n", "↵\n", StringComparison.Ordinal);

    /// <summary>Writes the whole --show-edits block: the draft, the marked edits, the answer.</summary>
    public static void Write(IAnsiConsole? console, TextWriter plain, string draft, string answer, List<DiffSegment> segments,
        string editsTitle)
    {
        ArgumentNullException.ThrowIfNull(plain);
        if (console is null)
        {
            plain.WriteLine("--- draft (stage 1)");
            plain.WriteLine(draft);
            plain.WriteLine($"--- edits ({editsTitle})");
            plain.WriteLine(Plain(segments));
            plain.WriteLine("--- answer");
            plain.WriteLine(answer);
            return;
        }
        console.Write(new Rule("[grey]draft (stage 1)[/]").LeftJustified());
        console.WriteLine(draft);
        console.Write(new Rule($"[grey]edits ({Spectre.Console.Markup.Escape(editsTitle)})[/]").LeftJustified());
        console.MarkupLine(Markup(segments));
        console.Write(new Rule("[grey]answer[/]").LeftJustified());
        console.WriteLine(answer);
    }
}
