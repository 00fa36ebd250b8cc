using MeDlm.Decoding;
using MeDlm.Server.Scheduling;
using MeDlm.Tokenization;
using Microsoft.Extensions.Options;

namespace MeDlm.Server.Endpoints;

/// <summary><c>GET /v1/models</c>, the health probes and <c>GET /metrics</c>.</summary>
internal static class InfoEndpoints
{
    public static void Map(IEndpointRouteBuilder routes)
    {
        routes.MapGet("/v1/models", ListModelsAsync);
        routes.MapGet("/v1/models/{id}", GetModelAsync);
        routes.MapGet("/health/live", LiveAsync);
        routes.MapGet("/health/ready", ReadyAsync);
        routes.MapGet("/metrics", MetricsAsync);
    }

    private static Task ListModelsAsync(HttpContext context, ModelHost host, IOptions<SchedulerOptions> scheduler)
    {
        if (host.Model is not { } model)
        {
            return NotReadyAsync(context, host, scheduler.Value);
        }
        var list = new ModelList("list", [Card(model)]);
        return context.Response.WriteAsJsonAsync(list, ServerJsonContext.Api.ModelList, contentType: null, context.RequestAborted);
    }

    private static Task GetModelAsync(HttpContext context, string id, ModelHost host, IOptions<SchedulerOptions> scheduler)
    {
        if (host.Model is not { } model)
        {
            return NotReadyAsync(context, host, scheduler.Value);
        }
        if (!string.Equals(id, model.Id, StringComparison.Ordinal))
        {
            return HttpIo.WriteErrorAsync(context, new ApiException(StatusCodes.Status404NotFound,
                $"The model '{id}' does not exist; this server serves '{model.Id}'.", "model", "model_not_found"));
        }
        return context.Response.WriteAsJsonAsync(Card(model), ServerJsonContext.Api.ModelCard, contentType: null, context.RequestAborted);
    }

    private static ModelCard Card(LoadedModel model)
    {
        ModelManifest manifest = model.Package.Manifest;
        GenerationDefaults g = manifest.Generation;
        MeDlmTokenizer tokenizer = model.Package.Tokenizer;
        SpecialTokens special = manifest.SpecialTokens;
        var tokens = new SpecialTokenTexts(tokenizer.Decode([special.Mask]), tokenizer.Decode([special.Pad]), tokenizer.Decode([special.End]));
        var defaults = new ModelDefaultsBody(g.GenLength, g.Budget, model.Package.HasEditHead ? g.EditShare : 0, DecodingAlgorithms.Name(g.Algorithm),
            g.BlockLength, g.Threshold, g.Temperature, model.Package.HasEditHead, manifest.MaxSequenceLength, tokens);
        return new ModelCard(model.Id, "model", model.CreatedUnixSeconds, "medlm", defaults);
    }

    private static Task NotReadyAsync(HttpContext context, ModelHost host, SchedulerOptions scheduler) => HttpIo.WriteErrorAsync(context,
        new ApiException(StatusCodes.Status503ServiceUnavailable,
            host.State == ModelState.Failed ? "The model failed to load: " + host.FailureMessage : "The model is still loading; retry shortly.",
            null, "model_not_ready"), scheduler.RetryAfterSeconds);

    private static Task LiveAsync(HttpContext context) =>
        context.Response.WriteAsJsonAsync(new HealthStatus("alive", null, null), ServerJsonContext.Api.HealthStatus, contentType: null, context.RequestAborted);

    /// <summary>Ready once the model is loaded and warmed up, and until shutdown begins (so balancers drain us).</summary>
    private static Task ReadyAsync(HttpContext context, ModelHost host, RequestQueue queue)
    {
        HealthStatus status = (host.State, queue.IsClosed) switch
        {
            (_, true) => new HealthStatus("stopping", host.Model?.Id, "shutting down: no new requests"),
            (ModelState.Ready, _) => new HealthStatus("ready", host.Model!.Id, null),
            (ModelState.Failed, _) => new HealthStatus("failed", null, host.FailureMessage),
            _ => new HealthStatus("loading", null, "the model is loading"),
        };
        context.Response.StatusCode = status.Status == "ready" ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable;
        return context.Response.WriteAsJsonAsync(status, ServerJsonContext.Api.HealthStatus, contentType: null, context.RequestAborted);
    }

    private static async Task MetricsAsync(HttpContext context, ServerMetrics metrics)
    {
        context.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
        await metrics.Registry.CollectAndExportAsTextAsync(context.Response.Body, context.RequestAborted).ConfigureAwait(false);
    }
}
