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

/// <summary>What one item's generation took and did.</summary>
internal readonly record struct ItemStats(int Passes, int MaskPasses, int EditRounds, int AnswerTokens, int Replaced, int Deleted, int Inserted);

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

    /// <summary>Per item: passes, edit rounds, answer tokens and edits of its generation.</summary>
    public ItemStats[] Items { get; private set; } = [];

    public bool[] Correct { get; set; } = [];

    /// <summary>Seconds spent generating this run's answers (scoring apart).</summary>
    public double Seconds { get; set; }

    public void Allocate(int items)
    {
        Texts = new string?[items];
        Items = new ItemStats[items];
        Correct = new bool[items];
    }

    public void Record(int item, GenerationResult r)
    {
        ArgumentNullException.ThrowIfNull(r);
        Texts[item] = r.Text;
        GenerationStats s = r.Stats;
        Items[item] = new ItemStats(s.TotalPasses, s.MaskPasses, s.EditPasses, r.AnswerLength, s.Edits.Replaced, s.Edits.Deleted, s.Edits.Inserted);
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

    /// <summary>Mean of <paramref name="value"/> over the generated items.</summary>
    public double Mean(Func<ItemStats, int> value)
    {
        ArgumentNullException.ThrowIfNull(value);
        long sum = 0;
        int n = 0;
        for (int i = 0; i < Items.Length; i++)
        {
            if (Texts[i] is not null)
            {
                sum += value(Items[i]);
                n++;
            }
        }
        return n == 0 ? 0 : (double)sum / n;
    }

    /// <summary>Mean forward passes per answer.</summary>
    public double MeanPasses => Mean(s => s.Passes);

    /// <summary>The 90th percentile (nearest rank) of the passes per answer.</summary>
    public int P90Passes()
    {
        var list = new List<int>(Items.Length);
        for (int i = 0; i < Items.Length; i++)
        {
            if (Texts[i] is not null)
            {
                list.Add(Items[i].Passes);
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
        double passes = MeanPasses;
        return passes == 0 ? 0 : Mean(s => s.AnswerTokens) / passes;
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
