using MeDlm.Sessions;
using Microsoft.Extensions.Logging;

namespace MeDlm.Model;

/// <summary>Log messages of model loading (source-generated, no formatting cost when disabled).</summary>
internal static partial class LoadLog
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Warning, Message = "CUDA execution provider unavailable, running on the CPU: {Reason}")]
    public static partial void CudaFallback(ILogger logger, string reason);

    [LoggerMessage(EventId = 2, Level = LogLevel.Information,
        Message = "Loaded model {Name} from {Folder} on {Provider} ({Architecture}, vocab {Vocab}, max sequence {MaxSequence})")]
    public static partial void Loaded(ILogger logger, string name, string folder, ExecutionProvider provider, string architecture,
        int vocab, int maxSequence);

    [LoggerMessage(EventId = 3, Level = LogLevel.Warning,
        Message = "Model {Name} on CUDA copies full-vocabulary logits to the host every pass: {What}")]
    public static partial void FullOutputsOnCuda(ILogger logger, string name, string what);
}
