using MeDlm.Sessions;
using Microsoft.Extensions.Options;

namespace MeDlm.Server.Hosting;

/// <summary>
/// Checks the <c>Model</c> section at start: the folder must hold a readable manifest (the ONNX graphs are
/// checked by the background load) and the device must be one we know. Messages name the setting.
/// </summary>
internal sealed class ModelServingOptionsValidator : IValidateOptions<ModelServingOptions>
{
    public ValidateOptionsResult Validate(string? name, ModelServingOptions o)
    {
        var failures = new List<string>();
        if (string.IsNullOrWhiteSpace(o.Path))
        {
            failures.Add("Model:Path is empty; set it to a model package folder (one with medlm.json).");
        }
        else if (ModelPathResolver.Resolve(o.Path) is not { } folder)
        {
            failures.Add($"Model:Path \"{o.Path}\" is not a folder (looked in {string.Join(" and ", ModelPathResolver.Candidates(o.Path))}).");
        }
        else
        {
            string manifest = System.IO.Path.Combine(folder, ModelManifest.FileName);
            if (!File.Exists(manifest))
            {
                failures.Add($"Model:Path \"{folder}\" is not a model package: {ModelManifest.FileName} is missing.");
            }
            else
            {
                try
                {
                    ModelManifest.Read(manifest);
                }
                catch (ModelLoadException e)
                {
                    failures.Add($"Model:Path \"{folder}\": {e.Message}");
                }
            }
        }
        if (!ExecutionProviders.TryParse(o.Device, out _))
        {
            failures.Add($"Model:Device \"{o.Device}\" is not one of cpu, cuda, auto.");
        }
        if (o.CudaDeviceId < 0)
        {
            failures.Add($"Model:CudaDeviceId must not be negative, got {o.CudaDeviceId}.");
        }
        if (o.IntraOpThreads < 0 || o.InterOpThreads < 0)
        {
            failures.Add("Model:IntraOpThreads and Model:InterOpThreads must not be negative (0 = the default: one intra-op thread per available processor, ONNX Runtime's choice across operators).");
        }
        if (o.GpuMemoryLimitBytes < 0 || o.CudaIntraOpThreads < 0)
        {
            failures.Add("Model:GpuMemoryLimitBytes and Model:CudaIntraOpThreads must not be negative (0 = no limit / one thread).");
        }
        if (o.ShapeBucket is < 0 or > MeDlm.Model.ModelOptions.MaxShapeBucket)
        {
            failures.Add($"Model:ShapeBucket must be in 0..{MeDlm.Model.ModelOptions.MaxShapeBucket} (0 or 1: exact shapes), got {o.ShapeBucket}.");
        }
        if (o.CudaGraphs && o.ShapeBucket is <= 1)
        {
            failures.Add("Model:CudaGraphs needs shape buckets (Model:ShapeBucket unset or above 1): a graph is captured per bound shape.");
        }
        if (o.Id.Length > 128 || o.Id.Any(c => char.IsWhiteSpace(c) || char.IsControl(c)))
        {
            failures.Add($"Model:Id \"{o.Id}\" must be at most 128 characters without spaces.");
        }
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}

/// <summary>Every limit must be positive and within a sane ceiling.</summary>
internal sealed class RequestLimitsOptionsValidator : IValidateOptions<RequestLimitsOptions>
{
    public ValidateOptionsResult Validate(string? name, RequestLimitsOptions o)
    {
        var failures = new List<string>();
        Check(failures, "Limits:MaxRequestBodyBytes", o.MaxRequestBodyBytes, 1024, 1L << 30);
        Check(failures, "Limits:MaxPromptTokens", o.MaxPromptTokens, 1, 1 << 20);
        Check(failures, "Limits:MaxGenLength", o.MaxGenLength, 1, 1 << 20);
        Check(failures, "Limits:MaxSteps", o.MaxSteps, 1, 1 << 20);
        Check(failures, "Limits:MaxPromptsPerRequest", o.MaxPromptsPerRequest, 1, 1024);
        Check(failures, "Limits:MaxStopSequences", o.MaxStopSequences, 0, 64);
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    internal static void Check(List<string> failures, string key, long value, long min, long max)
    {
        if (value < min || value > max)
        {
            failures.Add($"{key} must be between {min} and {max}, got {value}.");
        }
    }
}

/// <summary>Batch size, window, queue and timeouts must be within bounds.</summary>
internal sealed class SchedulerOptionsValidator : IValidateOptions<SchedulerOptions>
{
    public ValidateOptionsResult Validate(string? name, SchedulerOptions o)
    {
        var failures = new List<string>();
        RequestLimitsOptionsValidator.Check(failures, "Scheduler:MaxBatchSize", o.MaxBatchSize, 1, 1024);
        RequestLimitsOptionsValidator.Check(failures, "Scheduler:BatchWindowMilliseconds", o.BatchWindowMilliseconds, 0, 10_000);
        RequestLimitsOptionsValidator.Check(failures, "Scheduler:QueueCapacity", o.QueueCapacity, 1, 1_000_000);
        RequestLimitsOptionsValidator.Check(failures, "Scheduler:RetryAfterSeconds", o.RetryAfterSeconds, 1, 3600);
        RequestLimitsOptionsValidator.Check(failures, "Scheduler:ShutdownTimeoutSeconds", o.ShutdownTimeoutSeconds, 0, 3600);
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}

/// <summary>An API key, when set, must be a usable bearer token.</summary>
internal sealed class AuthOptionsValidator : IValidateOptions<AuthOptions>
{
    public ValidateOptionsResult Validate(string? name, AuthOptions o)
    {
        if (string.IsNullOrEmpty(o.ApiKey))
        {
            return ValidateOptionsResult.Success;
        }
        return o.ApiKey.Any(c => char.IsWhiteSpace(c) || char.IsControl(c)) || o.ApiKey.Length > 512
            ? ValidateOptionsResult.Fail("Auth:ApiKey must be at most 512 characters without spaces or control characters.")
            : ValidateOptionsResult.Success;
    }
}

/// <summary>
/// <c>Playground:Enabled</c> is true, false or unset; a value that is none of these is already refused by
/// the binder (which names the key), so there is nothing more to check than that the section binds.
/// </summary>
internal sealed class PlaygroundOptionsValidator : IValidateOptions<PlaygroundOptions>
{
    public ValidateOptionsResult Validate(string? name, PlaygroundOptions o) => ValidateOptionsResult.Success;
}

/// <summary>Where a configured model path points.</summary>
internal static class ModelPathResolver
{
    /// <summary>The folders a path may mean: itself when absolute, else under the current and the application directory.</summary>
    public static IReadOnlyList<string> Candidates(string path) => System.IO.Path.IsPathRooted(path)
        ? [System.IO.Path.GetFullPath(path)]
        : [System.IO.Path.GetFullPath(path), System.IO.Path.GetFullPath(System.IO.Path.Combine(AppContext.BaseDirectory, path))];

    /// <summary>The first candidate that exists, or null.</summary>
    public static string? Resolve(string path) => Candidates(path).FirstOrDefault(Directory.Exists);
}
