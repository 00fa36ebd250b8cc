namespace MeDlm.Server.Hosting;

/// <summary>Where the served model is in its life.</summary>
public enum ModelState
{
    /// <summary>Loading or warming up: not ready.</summary>
    Loading,

    /// <summary>Loaded and warmed up: requests are served.</summary>
    Ready,

    /// <summary>The load failed; the server is stopping.</summary>
    Failed,
}

/// <summary>
/// The one loaded model of this server and its generator, published once the background load and the
/// warm-up pass are done. Readiness is this object's state.
/// </summary>
public sealed class ModelHost : IDisposable
{
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile LoadedModel? _model;

    /// <summary>The current state.</summary>
    public ModelState State { get; private set; } = ModelState.Loading;

    /// <summary>Why the load failed, when it did.</summary>
    public string? FailureMessage { get; private set; }

    /// <summary>The loaded model; null until ready.</summary>
    public LoadedModel? Model => _model;

    /// <summary>Completes when the model is ready (never when the load fails).</summary>
    public Task WhenReady => _ready.Task;

    internal void SetReady(LoadedModel model)
    {
        _model = model;
        State = ModelState.Ready;
        _ready.TrySetResult();
    }

    internal void SetFailed(string message)
    {
        FailureMessage = message;
        State = ModelState.Failed;
    }

    /// <summary>Releases the generator and the sessions.</summary>
    public void Dispose()
    {
        LoadedModel? model = _model;
        _model = null;
        model?.Generator.Dispose();
        model?.Package.Dispose();
    }
}

/// <summary>A loaded package, its generator and the id it is served under.</summary>
public sealed record LoadedModel(string Id, ModelPackage Package, Generator Generator, long CreatedUnixSeconds);
