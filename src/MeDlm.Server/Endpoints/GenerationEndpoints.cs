using System.Diagnostics;
using System.Text.Json;
using System.Threading.Channels;
using MeDlm.Server.Scheduling;
using MeDlm.Tokenization;
using Microsoft.Extensions.Options;

namespace MeDlm.Server.Endpoints;

/// <summary>
/// <c>POST /v1/completions</c> and <c>POST /v1/chat/completions</c>: parse and check the request, queue
/// one job per choice, and answer with JSON or server-sent events in OpenAI's format.
/// </summary>
internal sealed partial class GenerationEndpoints(
    ModelHost host,
    RequestQueue queue,
    ServerMetrics metrics,
    IOptions<RequestLimitsOptions> limits,
    IOptions<SchedulerOptions> scheduler,
    ILogger<GenerationEndpoints> logger)
{
    private static readonly byte[] Done = "data: [DONE]\n\n"u8.ToArray();

    public static void Map(IEndpointRouteBuilder routes)
    {
        routes.MapPost("/v1/completions", (HttpContext c, GenerationEndpoints e) => e.HandleAsync(c, EndpointKind.Completion));
        routes.MapPost("/v1/chat/completions", (HttpContext c, GenerationEndpoints e) => e.HandleAsync(c, EndpointKind.Chat));
    }

    private enum EndpointKind
    {
        Completion,
        Chat,
    }

    /// <summary>A request's parsed body, plans and model, ready to run.</summary>
    private sealed record Accepted(
        EndpointKind Kind,
        GenerationRequestBody Body,
        IReadOnlyList<PlannedSequence> Plans,
        LoadedModel Model,
        string Id,
        long Created);

    private async Task HandleAsync(HttpContext context, EndpointKind kind)
    {
        long arrived = Stopwatch.GetTimestamp();
        List<GenerationJob> jobs = [];
        bool queued = false;
        try
        {
            LoadedModel model = host.Model ?? throw NotReady();
            if (queue.IsClosed)
            {
                throw ShuttingDown();
            }
            RequestLimitsOptions l = limits.Value;
            ReadOnlyMemory<byte> body = await HttpIo.ReadBodyAsync(context.Request, l.MaxRequestBodyBytes, context.RequestAborted).ConfigureAwait(false);
            GenerationRequestBody parsed;
            IReadOnlyList<PlannedSequence> plans;
            if (kind == EndpointKind.Completion)
            {
                CompletionRequestBody completion = RequestParser.ParseCompletion(body, l.MaxStopSequences);
                parsed = completion;
                plans = GenerationPlanner.Plan(completion, model, l);
            }
            else
            {
                ChatCompletionRequestBody chat = RequestParser.ParseChat(body, l.MaxStopSequences);
                parsed = chat;
                plans = [GenerationPlanner.Plan(chat, model, l)];
            }

            string requestId = RequestIds.Current(context);
            bool watchSteps = parsed.Stream && parsed.Medlm.StreamDenoising;
            for (int i = 0; i < plans.Count; i++)
            {
                PlannedSequence plan = plans[i];
                jobs.Add(new GenerationJob(requestId, i, plan.Plan, watchSteps, context.RequestAborted));
            }
            EnqueueResult admission = queue.TryEnqueue(jobs);
            queued = admission == EnqueueResult.Accepted;
            switch (admission)
            {
                case EnqueueResult.Full:
                    metrics.Rejected.WithLabels("queue_full").Inc();
                    throw new ApiException(StatusCodes.Status429TooManyRequests,
                        $"The server is busy: its queue of {queue.Capacity} sequences is full. Retry after {scheduler.Value.RetryAfterSeconds} s.",
                        null, "queue_full");
                case EnqueueResult.Closed:
                    throw ShuttingDown();
            }

            var accepted = new Accepted(kind, parsed, plans, model, (kind == EndpointKind.Chat ? "chatcmpl-" : "cmpl-") + requestId,
                DateTimeOffset.UtcNow.ToUnixTimeSeconds());
            if (parsed.Stream)
            {
                await StreamAsync(context, accepted, jobs, arrived).ConfigureAwait(false);
            }
            else
            {
                await RespondAsync(context, accepted, jobs).ConfigureAwait(false);
            }
        }
        catch (ApiException e)
        {
            if (e.StatusCode is >= 400 and < 500 and not StatusCodes.Status429TooManyRequests)
            {
                metrics.Rejected.WithLabels("invalid").Inc();
            }
            LogRefused(logger, e.StatusCode, e.Message);
            if (!context.Response.HasStarted)
            {
                bool retry = e.StatusCode is StatusCodes.Status429TooManyRequests or StatusCodes.Status503ServiceUnavailable;
                await HttpIo.WriteErrorAsync(context, e, retry ? scheduler.Value.RetryAfterSeconds : null).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException && context.RequestAborted.IsCancellationRequested)
        {
            // The client went away; its jobs are cancelled through their linked tokens.
            LogClientGone(logger);
        }
        finally
        {
            foreach (GenerationJob job in jobs)
            {
                if (queued)
                {
                    // A job still queued or running when the handler leaves early (client gone) is
                    // cancelled; the scheduler ends and releases it.
                    job.Cancel();
                }
                else
                {
                    job.Dispose();
                }
            }
            string endpoint = kind == EndpointKind.Chat ? "chat" : "completions";
            int status = context.RequestAborted.IsCancellationRequested ? 499 : context.Response.StatusCode;
            metrics.RequestDuration.WithLabels(endpoint, status.ToString(System.Globalization.CultureInfo.InvariantCulture))
                .Observe(Stopwatch.GetElapsedTime(arrived).TotalSeconds);
        }
    }

    private ApiException NotReady()
    {
        metrics.Rejected.WithLabels("not_ready").Inc();
        return host.State == ModelState.Failed
            ? new ApiException(StatusCodes.Status503ServiceUnavailable, "The model failed to load: " + host.FailureMessage, null, "model_load_failed")
            : new ApiException(StatusCodes.Status503ServiceUnavailable, "The model is still loading; retry shortly.", null, "model_not_ready");
    }

    private ApiException ShuttingDown()
    {
        metrics.Rejected.WithLabels("shutting_down").Inc();
        return new ApiException(StatusCodes.Status503ServiceUnavailable, "The server is shutting down and takes no new requests.", null, "shutting_down");
    }

    /// <summary>The error for a job that did not complete; null when the client is gone (nothing to send).</summary>
    private static ApiException? ErrorFor(JobOutcome outcome, HttpContext context) => outcome.Kind switch
    {
        JobOutcomeKind.Completed => null,
        JobOutcomeKind.Cancelled when context.RequestAborted.IsCancellationRequested => null,
        JobOutcomeKind.Cancelled => new ApiException(StatusCodes.Status503ServiceUnavailable,
            "The server is shutting down; the request was cancelled before it finished.", null, "shutting_down"),
        _ => new ApiException(StatusCodes.Status500InternalServerError, outcome.Error ?? "The model failed.", null, "model_error"),
    };

    /// <summary>The non-streaming answer: every choice at once.</summary>
    private async Task RespondAsync(HttpContext context, Accepted a, List<GenerationJob> jobs)
    {
        JobOutcome[] outcomes = await Task.WhenAll(jobs.Select(j => j.Completed)).WaitAsync(context.RequestAborted).ConfigureAwait(false);
        foreach (JobOutcome outcome in outcomes)
        {
            if (ErrorFor(outcome, context) is { } error)
            {
                throw error;
            }
        }
        if (context.RequestAborted.IsCancellationRequested)
        {
            return;
        }
        SpecialTokens special = a.Model.Package.Manifest.SpecialTokens;
        var texts = new string[jobs.Count];
        var reasons = new string[jobs.Count];
        var stats = new GenerationStatsBody[jobs.Count];
        int promptTokens = 0;
        int completionTokens = 0;
        for (int i = 0; i < jobs.Count; i++)
        {
            GenerationResult result = outcomes[i].Result!;
            (texts[i], reasons[i]) = FinalText(a, i, result, special);
            stats[i] = Stats(jobs[i], result);
            promptTokens += a.Plans[i].Plan.PromptTokenIds.Count;
            completionTokens += result.AnswerLength;
        }
        var usage = new Usage(promptTokens, completionTokens, promptTokens + completionTokens);
        if (a.Kind == EndpointKind.Chat)
        {
            var response = new ChatCompletionResponse(a.Id, "chat.completion", a.Created, a.Model.Id,
                [new ChatChoice(0, new ChatMessageBody("assistant", texts[0]), null, reasons[0])], usage, stats);
            await context.Response.WriteAsJsonAsync(response, ServerJsonContext.Api.ChatCompletionResponse, contentType: null, context.RequestAborted).ConfigureAwait(false);
        }
        else
        {
            var choices = new CompletionChoice[jobs.Count];
            for (int i = 0; i < choices.Length; i++)
            {
                choices[i] = new CompletionChoice(texts[i], i, null, reasons[i]);
            }
            var response = new CompletionResponse(a.Id, "text_completion", a.Created, a.Model.Id, choices, usage, stats);
            await context.Response.WriteAsJsonAsync(response, ServerJsonContext.Api.CompletionResponse, contentType: null, context.RequestAborted).ConfigureAwait(false);
        }
        int passes = stats.Max(s => s.ForwardPasses);
        int batchSize = stats.Max(s => s.BatchSize);
        LogCompleted(logger, a.Kind == EndpointKind.Chat ? "chat" : "completions", jobs.Count, promptTokens, completionTokens, passes, batchSize);
    }

    /// <summary>The text a choice returns (stop sequences applied, prompt first with echo) and its finish reason.</summary>
    private static (string Text, string FinishReason) FinalText(Accepted a, int choice, GenerationResult result, SpecialTokens special)
    {
        string text = AnswerText.ApplyStop(result.Text, a.Body.Stop, out bool stopped);
        string reason = stopped || !result.ReachedLengthLimit ? "stop" : "length";
        if (a.Body is CompletionRequestBody { Echo: true })
        {
            text = a.Plans[choice].PromptText + text;
        }
        return (text, reason);
    }

    private static GenerationStatsBody Stats(GenerationJob job, GenerationResult result)
    {
        GenerationStats s = result.Stats;
        return new GenerationStatsBody(s.TotalPasses, s.MaskPasses, s.EditPasses, s.EditRoundsSaved,
            new EditCounts(s.Edits.Replaced, s.Edits.Deleted, s.Edits.Inserted), job.BatchSize,
            Stopwatch.GetElapsedTime(job.AcceptedTimestamp, job.StartedTimestamp).TotalSeconds,
            Stopwatch.GetElapsedTime(job.StartedTimestamp, job.FinishedTimestamp).TotalSeconds);
    }

    /// <summary>What a job's pump reports to the stream writer.</summary>
    private readonly record struct StreamEvent(int Choice, GenerationStep? Step, JobOutcome? Outcome, bool Started);

    /// <summary>
    /// The streaming answer. Headers go out at once; each choice's first chunk (the assistant role) when
    /// its batch starts; with <c>medlm.stream_denoising</c> a chunk per step whose <c>medlm</c> field holds
    /// the canvas; the text when the denoising ends (until its last step a diffusion model may change any
    /// position, so no earlier text is final); then the finish chunk, the usage chunk if asked, and [DONE].
    /// </summary>
    private async Task StreamAsync(HttpContext context, Accepted a, List<GenerationJob> jobs, long arrived)
    {
        HttpResponse response = context.Response;
        response.ContentType = "text/event-stream; charset=utf-8";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        await response.StartAsync(context.RequestAborted).ConfigureAwait(false);
        ChunkWriter chunks = a.Kind == EndpointKind.Chat
            ? new ChatChunkWriter(response, a.Id, a.Created, a.Model.Id)
            : new CompletionChunkWriter(response, a.Id, a.Created, a.Model.Id);

        var events = Channel.CreateUnbounded<StreamEvent>(new UnboundedChannelOptions { SingleReader = true });
        Task[] pumps = [.. jobs.Select(j => PumpAsync(j, events.Writer))];
        _ = Task.WhenAll(pumps).ContinueWith(_ => events.Writer.TryComplete(), TaskScheduler.Default);

        SpecialTokens special = a.Model.Package.Manifest.SpecialTokens;
        // Each position's text of the streamed steps, decoded once per token id (made at the first step).
        Dictionary<int, string>? tokenTexts = null;
        int promptTokens = 0;
        int completionTokens = 0;
        int passes = 0;
        bool firstChunk = true;
        string endpoint = a.Kind == EndpointKind.Chat ? "chat" : "completions";
        await foreach (StreamEvent e in events.Reader.ReadAllAsync(context.RequestAborted).ConfigureAwait(false))
        {
            if (e.Started)
            {
                await chunks.StartAsync(e.Choice, context.RequestAborted).ConfigureAwait(false);
                if (firstChunk)
                {
                    firstChunk = false;
                    metrics.TimeToFirstChunk.WithLabels(endpoint).Observe(Stopwatch.GetElapsedTime(arrived).TotalSeconds);
                }
                continue;
            }
            if (e.Step is { } step)
            {
                DenoisingStep d = ToDenoisingStep(e.Choice, step, special.Mask, a.Model.Package.Tokenizer, tokenTexts ??= []);
                await chunks.StepAsync(e.Choice, d, context.RequestAborted).ConfigureAwait(false);
                continue;
            }
            JobOutcome outcome = e.Outcome!;
            if (ErrorFor(outcome, context) is { } error)
            {
                // Headers are gone: OpenAI's way is an error object as an event, then the end.
                await chunks.WriteEventAsync(JsonSerializer.SerializeToUtf8Bytes(error.ToBody(), ServerJsonContext.Api.OpenAiErrorResponse), context.RequestAborted).ConfigureAwait(false);
                await response.Body.WriteAsync(Done, context.RequestAborted).ConfigureAwait(false);
                return;
            }
            if (outcome.Kind != JobOutcomeKind.Completed)
            {
                return;
            }
            GenerationResult result = outcome.Result!;
            (string text, string reason) = FinalText(a, e.Choice, result, special);
            promptTokens += a.Plans[e.Choice].Plan.PromptTokenIds.Count;
            completionTokens += result.AnswerLength;
            passes = Math.Max(passes, result.Stats.TotalPasses);
            List<string> pieces = a.Body is CompletionRequestBody { Echo: true }
                ? [text]
                : AnswerText.StreamPieces(result, text);
            foreach (string piece in pieces)
            {
                await chunks.TextAsync(e.Choice, piece, context.RequestAborted).ConfigureAwait(false);
            }
            // The finish chunk carries the choice's statistics, as the plain answer's medlm entry.
            await chunks.FinishAsync(e.Choice, reason, Stats(jobs[e.Choice], result), context.RequestAborted).ConfigureAwait(false);
        }
        if (a.Body.IncludeUsage)
        {
            await chunks.UsageAsync(new Usage(promptTokens, completionTokens, promptTokens + completionTokens), context.RequestAborted).ConfigureAwait(false);
        }
        await response.Body.WriteAsync(Done, context.RequestAborted).ConfigureAwait(false);
        await response.Body.FlushAsync(context.RequestAborted).ConfigureAwait(false);
        int largestBatch = jobs.Max(j => j.BatchSize);
        LogCompleted(logger, endpoint, jobs.Count, promptTokens, completionTokens, passes, largestBatch);
    }

    /// <summary>Forwards one job's start, steps and end to the stream writer, in order.</summary>
    private static async Task PumpAsync(GenerationJob job, ChannelWriter<StreamEvent> events)
    {
        // 0: the job ended in the queue (cancelled) and never started.
        if (await job.Started.ConfigureAwait(false) > 0)
        {
            events.TryWrite(new StreamEvent(job.ChoiceIndex, null, null, Started: true));
        }
        if (job.Steps is { } steps)
        {
            await foreach (GenerationStep step in steps.ReadAllAsync().ConfigureAwait(false))
            {
                events.TryWrite(new StreamEvent(job.ChoiceIndex, step, null, false));
            }
        }
        JobOutcome outcome = await job.Completed.ConfigureAwait(false);
        events.TryWrite(new StreamEvent(job.ChoiceIndex, null, outcome, false));
    }

    private static DenoisingStep ToDenoisingStep(int choice, GenerationStep step, int maskId, MeDlmTokenizer tokenizer, Dictionary<int, string> tokenTexts)
    {
        int masks = 0;
        var tokens = new string[step.TokenIds.Count];
        for (int i = 0; i < tokens.Length; i++)
        {
            int id = step.TokenIds[i];
            masks += id == maskId ? 1 : 0;
            tokens[i] = TokenText(id, tokenizer, tokenTexts);
        }
        int unmasked = 0, replaced = 0, deleted = 0, inserted = 0;
        var changes = new TokenChangeBody[step.Changes.Count];
        for (int i = 0; i < changes.Length; i++)
        {
            TokenChange c = step.Changes[i];
            switch (c.Kind)
            {
                case TokenChangeKind.Unmasked: unmasked++; break;
                case TokenChangeKind.Replaced: replaced++; break;
                case TokenChangeKind.Deleted: deleted++; break;
                case TokenChangeKind.Inserted: inserted++; break;
            }
            (string kind, string? old) = c.Kind switch
            {
                TokenChangeKind.Unmasked => ("commit", (string?)null),
                TokenChangeKind.Replaced => ("replace", TokenText(c.OldTokenId, tokenizer, tokenTexts)),
                TokenChangeKind.Deleted => ("delete", TokenText(c.OldTokenId, tokenizer, tokenTexts)),
                _ => ("insert", null),
            };
            changes[i] = new TokenChangeBody(c.Position, kind, old);
        }
        string stage = step.Stage switch
        {
            GenerationStage.Unmasking => "mask",
            GenerationStage.Transition => "transition",
            _ => "edit",
        };
        EditCounts? edits = step.Stage == GenerationStage.Unmasking ? null : new EditCounts(replaced, deleted, inserted);
        return new DenoisingStep(choice, step.PassIndex + 1, stage, step.Text, masks, unmasked, edits, tokens, changes);
    }

    /// <summary>One token's text (a token that is part of a multi-byte character shows as U+FFFD).</summary>
    private static string TokenText(int id, MeDlmTokenizer tokenizer, Dictionary<int, string> cache)
    {
        if (!cache.TryGetValue(id, out string? text))
        {
            text = tokenizer.Decode([id]);
            cache[id] = text;
        }
        return text;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "{Endpoint}: {Choices} choice(s), {PromptTokens}+{CompletionTokens} tokens, {Passes} passes, batch of {BatchSize}")]
    private static partial void LogCompleted(ILogger logger, string endpoint, int choices, int promptTokens, int completionTokens, int passes, int batchSize);

    [LoggerMessage(Level = LogLevel.Information, Message = "Refused with {Status}: {Reason}")]
    private static partial void LogRefused(ILogger logger, int status, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Client disconnected; its sequences are cancelled")]
    private static partial void LogClientGone(ILogger logger);
}
