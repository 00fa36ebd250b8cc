using MeDlm.Server.Endpoints;
using MeDlm.Server.Playground;
using MeDlm.Server.Scheduling;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace MeDlm.Server.Hosting;

/// <summary>Composes the server: configuration, options, services, middleware and endpoints.</summary>
public static class ServerApp
{
    /// <summary>The Windows service name and the systemd unit's identifier.</summary>
    public const string ServiceName = "medlm-server";

    /// <summary>
    /// Builds the application from <paramref name="args"/> (command line), environment variables and
    /// appsettings.json (next to the binary). <paramref name="configure"/> lets tests add configuration.
    /// </summary>
    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        WebApplicationBuilder builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = args,
            // appsettings.json lives next to the binary, whatever the working directory (services start in /
            // or System32).
            ContentRootPath = AppContext.BaseDirectory,
        });
        configure?.Invoke(builder);
        ValidateConfiguration(builder.Configuration);

        IServiceCollection services = builder.Services;
        services.AddSystemd();
        services.AddWindowsService(o => o.ServiceName = ServiceName);

        services.AddOptions<ModelServingOptions>().BindConfiguration(ModelServingOptions.Section).ValidateOnStart();
        services.AddOptions<RequestLimitsOptions>().BindConfiguration(RequestLimitsOptions.Section).ValidateOnStart();
        services.AddOptions<SchedulerOptions>().BindConfiguration(SchedulerOptions.Section).ValidateOnStart();
        services.AddOptions<AuthOptions>().BindConfiguration(AuthOptions.Section).ValidateOnStart();
        services.AddOptions<PlaygroundOptions>().BindConfiguration(PlaygroundOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<ModelServingOptions>, ModelServingOptionsValidator>();
        services.AddSingleton<IValidateOptions<RequestLimitsOptions>, RequestLimitsOptionsValidator>();
        services.AddSingleton<IValidateOptions<SchedulerOptions>, SchedulerOptionsValidator>();
        services.AddSingleton<IValidateOptions<AuthOptions>, AuthOptionsValidator>();
        services.AddSingleton<IValidateOptions<PlaygroundOptions>, PlaygroundOptionsValidator>();

        // The host waits for the scheduler's drain (its own timeout) plus time to write the last answers.
        services.AddOptions<HostOptions>().Configure<IOptions<SchedulerOptions>>((host, scheduler) =>
            host.ShutdownTimeout = TimeSpan.FromSeconds(scheduler.Value.ShutdownTimeoutSeconds + 10));
        services.AddOptions<Microsoft.AspNetCore.Server.Kestrel.Core.KestrelServerOptions>().Configure<IOptions<RequestLimitsOptions>>((kestrel, limits) =>
        {
            kestrel.Limits.MaxRequestBodySize = limits.Value.MaxRequestBodyBytes;
            kestrel.AddServerHeader = false;
        });

        services.TryAddSingleton<ModelLoadGate>();
        services.AddSingleton<ServerMetrics>();
        services.AddSingleton<ModelHost>();
        services.AddSingleton<RequestQueue>();
        services.AddSingleton<GenerationEndpoints>();
        // Registration order is start order (and reverse stop order): the scheduler stops after the loader.
        services.AddHostedService<BatchScheduler>();
        services.AddHostedService<ModelLoaderService>();

        WebApplication app = builder.Build();
        app.UseExceptionHandler(new ExceptionHandlerOptions { ExceptionHandler = WriteUnexpectedErrorAsync });
        app.Use(RequestIds.Middleware);
        app.UseMiddleware<ApiKeyMiddleware>();
        GenerationEndpoints.Map(app);
        InfoEndpoints.Map(app);
        PlaygroundEndpoints.Map(app);
        app.MapFallback(context => HttpIo.WriteErrorAsync(context, new ApiException(StatusCodes.Status404NotFound,
            $"No route {context.Request.Method} {context.Request.Path}; see /v1/completions, /v1/chat/completions, /v1/models, /health/live, /health/ready, /metrics.",
            null, "not_found")));
        return app;
    }

    /// <summary>
    /// Binds and validates every options section from <paramref name="configuration"/> with the same
    /// validators the host uses, so that a bad configuration fails before anything is built or started,
    /// with all of its problems (values of the wrong type included) in one <see cref="OptionsValidationException"/>.
    /// </summary>
    public static void ValidateConfiguration(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var failures = new List<string>();
        Check(configuration, ModelServingOptions.Section, new ModelServingOptionsValidator(), failures);
        Check(configuration, RequestLimitsOptions.Section, new RequestLimitsOptionsValidator(), failures);
        Check(configuration, SchedulerOptions.Section, new SchedulerOptionsValidator(), failures);
        Check(configuration, AuthOptions.Section, new AuthOptionsValidator(), failures);
        Check(configuration, PlaygroundOptions.Section, new PlaygroundOptionsValidator(), failures);
        if (failures.Count > 0)
        {
            throw new OptionsValidationException("configuration", typeof(ServerApp), failures);
        }
    }

    private static void Check<T>(IConfiguration configuration, string section, IValidateOptions<T> validator, List<string> failures)
        where T : class, new()
    {
        var options = new T();
        try
        {
            configuration.GetSection(section).Bind(options);
        }
        catch (InvalidOperationException e)
        {
            // A value of the wrong type: the binder names the key and the value.
            failures.Add(e.Message);
            return;
        }
        ValidateOptionsResult result = validator.Validate(Options.DefaultName, options);
        if (result.Failed)
        {
            failures.AddRange(result.Failures ?? [result.FailureMessage]);
        }
    }

    private static Task WriteUnexpectedErrorAsync(HttpContext context)
    {
        Exception? error = context.Features.Get<IExceptionHandlerFeature>()?.Error;
        var body = error is BadHttpRequestException bad
            ? new ApiException(bad.StatusCode, "The request could not be read: " + bad.Message, null, "invalid_request")
            : new ApiException(StatusCodes.Status500InternalServerError, "The server failed to handle the request.", null, "internal_error");
        return HttpIo.WriteErrorAsync(context, body);
    }
}
