namespace MeDlm.Server.Tests.Infrastructure;

/// <summary>One server with the default configuration for the tests that do not need their own.</summary>
public sealed class SharedServer : IAsyncLifetime
{
    private LoopbackServer? _server;

    /// <summary>The running server.</summary>
    public LoopbackServer Server => _server ?? throw new InvalidOperationException("Not started.");

    /// <summary>Starts it.</summary>
    public async Task InitializeAsync() => _server = await LoopbackServer.StartAsync(["Scheduler:MaxBatchSize=32", "Scheduler:BatchWindowMilliseconds=20"]);

    /// <summary>Stops it.</summary>
    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }
}

/// <summary>The collection of tests sharing <see cref="SharedServer"/>.</summary>
[CollectionDefinition(Name)]
public sealed class SharedServerCollection : ICollectionFixture<SharedServer>
{
    /// <summary>The collection name.</summary>
    public const string Name = "shared server";
}
