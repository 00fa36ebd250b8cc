namespace MeDlm.Server.Hosting;

/// <summary>
/// What the model load waits for before it begins: nothing in a running service. Tests put a gate of
/// their own in the container to hold the load and watch the server while it is not ready.
/// </summary>
public sealed class ModelLoadGate
{
    /// <summary>A gate that is open from the start.</summary>
    public ModelLoadGate() : this(Task.CompletedTask) { }

    /// <summary>A gate that opens when <paramref name="opened"/> completes.</summary>
    public ModelLoadGate(Task opened) => Opened = opened;

    /// <summary>Completes when the load may begin.</summary>
    public Task Opened { get; }
}
