using MeDlm.Generation;

namespace MeDlm.Cli.Evaluation;

/// <summary>What a row of <c>medlm eval</c> decodes: the budget table's two modes, or a setting of its own.</summary>
internal enum RunKind
{
    /// <summary>A budget's passes all spent on mask steps.</summary>
    MaskOnly,

    /// <summary>A budget split into mask steps and edit rounds by the model's edit share.</summary>
    MaskEdit,

    /// <summary>A setting from the flags, <c>--setting</c> or <c>--sweep</c>.</summary>
    Setting,
}

/// <summary>A correct-answer count over some items.</summary>
internal readonly record struct Tally(int Right, int Count)
{
    public double? Percent => Count == 0 ? null : 100.0 * Right / Count;
}

/// <summary>One decoding setting of an evaluation and what each item produced under it.</summary>
internal sealed class EvalRun(string label, RunKind kind, DecodingValues values)
{
    public string Label { get; } = label;

    public RunKind Kind { get; } = kind;

    public DecodingValues Values { get; } = values;

    /// <summary>The budget of a budget-table row (its label and fraction); the total passes it allows.</summary>
    public string Budget { get; init; } = "";

    public double Fraction { get; init; }

    public int TotalPasses { get; init; }

    /// <summary>The plan of the first prompt: the resolved algorithm, mask steps and edit rounds allowed.</summary>
    public GenerationPlan? Plan { get; set; }

    public string?[] Texts { get; private set; } = [];

    public int[] Passes { get; private set; } = [];

    public int[] MaskPasses { get; private set; } = [];

    public int[] EditRounds { get; private set; } = [];

    public int[] AnswerTokens { get; private set; } = [];

    public int[] Replaced { get; private set; } = [];

    public int[] Deleted { get; private set; } = [];

    public int[] Inserted { get; private set; } = [];

    public bool[] Correct { get; set; } = [];

    /// <summary>Seconds spent generating this run's answers (scoring apart).</summary>
    public double Seconds { get; set; }

    public void Allocate(int items)
    {
        Texts = new string?[items];
        Passes = new int[items];
        MaskPasses = new int[items];
        EditRounds = new int[items];
        AnswerTokens = new int[items];
        Replaced = new int[items];
        Deleted = new int[items];
        Inserted = new int[items];
        Correct = new bool[items];
    }

    public void Record(int item, GenerationResult r)
    {
        ArgumentNullException.ThrowIfNull(r);
        Texts[item] = r.Text;
        Passes[item] = r.Stats.TotalPasses;
        MaskPasses[item] = r.Stats.MaskPasses;
        EditRounds[item] = r.Stats.EditPasses;
        AnswerTokens[item] = r.AnswerLength;
        Replaced[item] = r.Stats.Edits.Replaced;
        Deleted[item] = r.Stats.Edits.Deleted;
        Inserted[item] = r.Stats.Edits.Inserted;
    }

    /// <summary>Items that were generated (a prompt too long for the context is not).</summary>
    public int Generated
    {
        get
        {
            int n = 0;
            foreach (string? t in Texts)
            {
                n += t is null ? 0 : 1;
            }
            return n;
        }
    }

    /// <summary>Mean of <paramref name="values"/> over the generated items.</summary>
    public double Mean(int[] values)
    {
        ArgumentNullException.ThrowIfNull(values);
        long sum = 0;
        int n = 0;
        for (int i = 0; i < values.Length; i++)
        {
            if (Texts[i] is not null)
            {
                sum += values[i];
                n++;
            }
        }
        return n == 0 ? 0 : (double)sum / n;
    }

    /// <summary>The 90th percentile (nearest rank) of the passes per answer.</summary>
    public int P90Passes()
    {
        var list = new List<int>(Passes.Length);
        for (int i = 0; i < Passes.Length; i++)
        {
            if (Texts[i] is not null)
            {
                list.Add(Passes[i]);
            }
        }
        if (list.Count == 0)
        {
            return 0;
        }
        list.Sort();
        return list[Math.Max(0, (int)Math.Ceiling(0.9 * list.Count) - 1)];
    }

    /// <summary>Answer tokens per forward pass, over all generated items.</summary>
    public double TokensPerPass()
    {
        double passes = Mean(Passes);
        return passes == 0 ? 0 : Mean(AnswerTokens) / passes;
    }

    public double AnswersPerSecond => Seconds > 0 ? Generated / Seconds : 0;

    public Tally Accuracy(List<EvalItem> items, TaskKind? kind)
    {
        ArgumentNullException.ThrowIfNull(items);
        int right = 0, count = 0;
        for (int i = 0; i < items.Count; i++)
        {
            if (kind is null || items[i].Kind == kind)
            {
                count++;
                right += Correct[i] ? 1 : 0;
            }
        }
        return new Tally(right, count);
    }
}
