using System.Diagnostics;
using MeDlm.Sessions;
using Microsoft.Extensions.Options;

namespace MeDlm.Server.Hosting;

/// <summary>
/// Loads the model once, in the background so that the liveness endpoint answers at once, and runs one
/// warm-up generation before the server reports ready. A failed load stops the server with exit code 3.
/// </summary>
internal sealed partial class ModelLoaderService(
    ModelHost host,
    ModelLoadGate gate,
    IOptions<ModelServingOptions> options,
    ServerMetrics metrics,
    IHostApplicationLifetime lifetime,
    ILoggerFactory loggerFactory) : BackgroundService
{
    /// <summary>The process exit code after a failed model load.</summary>
    public const int ModelLoadFailedExitCode = 3;

    private readonly ILogger _logger = loggerFactory.CreateLogger<ModelLoaderService>();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await gate.Opened.WaitAsync(stoppingToken).ConfigureAwait(false);
            // Sessions take a while to create; off the startup path so that Kestrel starts listening now.
            LoadedModel model = await Task.Run(() => Load(stoppingToken), stoppingToken).ConfigureAwait(false);
            host.SetReady(model);
            metrics.ModelReady.Set(1);
            LogReady(_logger, model.Id);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopped while loading: nothing to report.
        }
        catch (Exception e) when (e is ModelLoadException or ArgumentException or IOException or Microsoft.ML.OnnxRuntime.OnnxRuntimeException)
        {
            host.SetFailed(e.Message);
            LogLoadFailed(_logger, e.Message);
            Environment.ExitCode = ModelLoadFailedExitCode;
            lifetime.StopApplication();
        }
    }

    private LoadedModel Load(CancellationToken ct)
    {
        ModelServingOptions o = options.Value;
        string folder = ModelPathResolver.Resolve(o.Path) ?? throw new ModelLoadException(o.Path, "model folder does not exist");
        if (!ExecutionProviders.TryParse(o.Device, out ExecutionProvider provider))
        {
            throw new ArgumentException($"Model:Device \"{o.Device}\" is not one of cpu, cuda, auto.");
        }
        long started = Stopwatch.GetTimestamp();
        ModelPackage package = ModelPackage.Load(folder, new ModelOptions
        {
            ExecutionProvider = provider,
            CudaDeviceId = o.CudaDeviceId,
            IntraOpNumThreads = o.IntraOpThreads,
            InterOpNumThreads = o.InterOpThreads,
            GpuMemoryLimitBytes = o.GpuMemoryLimitBytes,
            CudaUseTf32 = o.CudaUseTf32,
            CudaIntraOpThreads = o.CudaIntraOpThreads,
            ShapeBucket = o.ShapeBucket,
            CudaPinnedHostMemory = o.CudaPinnedHostMemory,
            CudaSharedAllocator = o.CudaSharedAllocator,
            CudaGraphs = o.CudaGraphs,
            RequireReducedOutputsOnCuda = o.RequireReducedOutputsOnCuda,
            Logger = loggerFactory.CreateLogger("MeDlm.Model"),
        });
        Generator? generator = null;
        try
        {
            generator = new Generator(package);
            ct.ThrowIfCancellationRequested();
            // One short generation through both graphs, so that the first client does not pay for
            // ONNX Runtime's lazy initialisation.
            int warmupLength = Math.Min(8, package.Manifest.Generation.GenLength);
            generator.Generate(new GenerationRequest
            {
                Prompt = "warm-up",
                GenLength = warmupLength,
                BlockLength = warmupLength,
                MaskSteps = Math.Min(2, warmupLength),
                EditSteps = package.HasEditHead ? 1 : 0,
            }, ct);
            string id = string.IsNullOrEmpty(o.Id) ? package.Manifest.Name : o.Id;
            double seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
            LogLoaded(_logger, id, folder, package.ExecutionProvider, seconds);
            return new LoadedModel(id, package, generator, DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        }
        catch
        {
            generator?.Dispose();
            package.Dispose();
            throw;
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Model {ModelId} loaded from {Folder} on {Provider} and warmed up in {Seconds:F2} s")]
    private static partial void LogLoaded(ILogger logger, string modelId, string folder, ExecutionProvider provider, double seconds);

    [LoggerMessage(Level = LogLevel.Information, Message = "Ready: serving {ModelId}")]
    private static partial void LogReady(ILogger logger, string modelId);

    [LoggerMessage(Level = LogLevel.Critical, Message = "The model could not be loaded: {Reason}. Stopping.")]
    private static partial void LogLoadFailed(ILogger logger, string reason);
}
