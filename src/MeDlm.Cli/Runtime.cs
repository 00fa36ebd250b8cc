using MeDlm.Cli.Commands;
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
            ShapeBucket = settings.ShapeBucket,
            CudaGraphs = settings.CudaGraphs,
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
        return s.Values.Request(prompt, messages, promptIds, s.Raw);
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
}
