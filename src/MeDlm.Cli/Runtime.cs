using MeDlm.Cli.Commands;
using MeDlm.Decoding;
using MeDlm.Generation;
using MeDlm.Model;
using MeDlm.Tokenization;
using Microsoft.Extensions.Logging;

namespace MeDlm.Cli;

/// <summary>Loading the model and turning flags into requests, shared by the commands.</summary>
internal static class Runtime
{
    /// <summary>Loads the package named by the flags; load errors become one line naming the file.</summary>
    public static ModelPackage Load(ModelSettings settings)
    {
        string folder = ModelLocator.Resolve(settings.Model);
        var options = new ModelOptions
        {
            ExecutionProvider = settings.Provider,
            IntraOpNumThreads = settings.Threads,
            Logger = new StderrLogger(settings.Verbose ? LogLevel.Information : LogLevel.Warning),
        };
        try
        {
            return ModelPackage.Load(folder, options);
        }
        catch (ModelLoadException e)
        {
            throw new CliException($"cannot load the model: {e.Message}", ExitCodes.RuntimeError);
        }
    }

    /// <summary>A request carrying every decoding flag, for a prompt given as ids, messages or text.</summary>
    public static GenerationRequest Request(DecodingSettings s, string? prompt = null, IReadOnlyList<ChatMessage>? messages = null,
        IReadOnlyList<int>? promptIds = null)
    {
        ArgumentNullException.ThrowIfNull(s);
        if (prompt is not null && s.System is not null)
        {
            messages = [ChatMessage.System(s.System), ChatMessage.User(prompt)];
            prompt = null;
        }
        return new GenerationRequest
        {
            Prompt = prompt,
            RawPrompt = s.Raw,
            Messages = messages,
            PromptTokenIds = promptIds,
            GenLength = s.GenLength,
            Budget = s.BudgetValue,
            MaskSteps = s.MaskSteps,
            EditSteps = s.EditSteps,
            Algorithm = s.AlgorithmValue,
            BlockLength = s.BlockLength,
            Temperature = s.Temperature,
            CfgScale = s.Cfg,
            Threshold = s.Threshold,
            Seed = s.Seed,
            LogitsEosInf = s.LogitsEosInf,
            ConfidenceEosEotInf = s.ConfidenceEosEotInf,
        };
    }

    /// <summary>The prompt ids of a user prompt as <see cref="Generator"/> would build them (chat template unless --raw).</summary>
    public static int[] EncodePrompt(ModelPackage package, DecodingSettings s, string prompt)
    {
        ArgumentNullException.ThrowIfNull(package);
        ArgumentNullException.ThrowIfNull(s);
        ChatTemplate template = package.Manifest.ChatTemplate;
        string text = s.Raw
            ? prompt
            : s.System is not null
                ? template.Apply([ChatMessage.System(s.System), ChatMessage.User(prompt)])
                : template.ApplyPrompt(prompt);
        return [.. package.Tokenizer.EncodeToIds(text)];
    }

    /// <summary>What the flags resolve to against the model's defaults (for status lines and the reference run).</summary>
    public static ResolvedSettings Resolve(ModelPackage package, DecodingSettings s)
    {
        ArgumentNullException.ThrowIfNull(package);
        ArgumentNullException.ThrowIfNull(s);
        GenerationDefaults d = package.Manifest.Generation;
        int g = s.GenLength ?? d.GenLength;
        double budget = s.BudgetValue ?? d.Budget;
        double share = package.HasEditHead ? d.EditShare : 0.0;
        (int m, int e) = MeDlm.Decoding.Budget.Split(g, budget, share);
        DecodingAlgorithm algorithm = s.AlgorithmValue ?? d.Algorithm;
        int block = s.BlockLength ?? (g == d.GenLength ? d.BlockLength : g);
        return new ResolvedSettings(g, algorithm, s.MaskSteps ?? m, s.EditSteps ?? e, block, s.Temperature ?? d.Temperature,
            s.Threshold ?? d.Threshold);
    }

    /// <summary>Runs <paramref name="action"/> and turns request validation errors into usage errors.</summary>
    public static T Checked<T>(Func<T> action)
    {
        ArgumentNullException.ThrowIfNull(action);
        try
        {
            return action();
        }
        catch (ArgumentException e)
        {
            throw CliException.Usage(StripParamName(e));
        }
    }

    /// <summary>The message without the " (Parameter 'request')" suffix that ArgumentException appends.</summary>
    public static string StripParamName(ArgumentException e)
    {
        ArgumentNullException.ThrowIfNull(e);
        string m = e.Message;
        int at = e.ParamName is null ? -1 : m.LastIndexOf($" (Parameter '{e.ParamName}')", StringComparison.Ordinal);
        return at >= 0 ? m[..at] : m;
    }

    /// <summary>Tokens of a response that count as generated text (as bench_reference.py counts them).</summary>
    public static int CountAnswerTokens(IReadOnlyList<int> response, SpecialTokens st)
    {
        ArgumentNullException.ThrowIfNull(response);
        ArgumentNullException.ThrowIfNull(st);
        int n = 0;
        foreach (int id in response)
        {
            if (id != st.Pad && id != st.End && id != st.Mask)
            {
                n++;
            }
        }
        return n;
    }

    /// <summary>The ids before the first END, PAD or EOS (the answer, as <see cref="GenerationResult.Text"/> decodes it).</summary>
    public static int[] AnswerIds(IReadOnlyList<int> ids, SpecialTokens st)
    {
        ArgumentNullException.ThrowIfNull(ids);
        ArgumentNullException.ThrowIfNull(st);
        int stop = ids.Count;
        for (int i = 0; i < ids.Count; i++)
        {
            if (ids[i] == st.Pad || ids[i] == st.End || ids[i] == st.Eos)
            {
                stop = i;
                break;
            }
        }
        int[] a = new int[stop];
        for (int i = 0; i < stop; i++)
        {
            a[i] = ids[i];
        }
        return a;
    }
}

/// <summary>Decoding settings after the model's defaults are applied.</summary>
internal sealed record ResolvedSettings(int GenLength, DecodingAlgorithm Algorithm, int MaskSteps, int EditSteps, int BlockLength,
    double Temperature, double Threshold)
{
    /// <summary>Planned forward passes (the threshold algorithm's stage 1 varies: counted as its maximum, G).</summary>
    public int PlannedPasses => (Algorithm == DecodingAlgorithm.Threshold ? GenLength : MaskSteps) + EditSteps;
}
