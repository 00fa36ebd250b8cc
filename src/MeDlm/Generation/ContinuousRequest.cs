namespace MeDlm.Generation;

/// <summary>
/// One request of a continuous run (<see cref="Generator.RunContinuous"/>) and where its outcome goes.
/// The callbacks run on the generator's thread between forward passes: keep them short (hand the value to
/// another thread, complete a task).
/// </summary>
public sealed class ContinuousRequest
{
    /// <summary>Creates the entry for <paramref name="request"/>, planned when it joins (an invalid one goes to <paramref name="onRejected"/>).</summary>
    public ContinuousRequest(GenerationRequest request, Action<GenerationResult> onCompleted, Action<ArgumentException> onRejected)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(onCompleted);
        ArgumentNullException.ThrowIfNull(onRejected);
        Request = request;
        OnCompleted = onCompleted;
        OnRejected = onRejected;
    }

    /// <summary>Creates the entry for a plan made by <see cref="Generator.Plan"/> (already checked: it is never rejected).</summary>
    public ContinuousRequest(GenerationPlan plan, Action<GenerationResult> onCompleted)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(onCompleted);
        Plan = plan;
        OnCompleted = onCompleted;
        OnRejected = static e => throw new InvalidOperationException("A planned request cannot be rejected.", e);
    }

    /// <summary>The request (null when the entry was made from a plan).</summary>
    public GenerationRequest? Request { get; }

    /// <summary>The plan (null when the entry was made from a request, planned when it joins).</summary>
    public GenerationPlan? Plan { get; }

    /// <summary>
    /// The result, once the sequence finished or was cancelled through its request's token
    /// (<see cref="GenerationResult.Cancelled"/>).
    /// </summary>
    public Action<GenerationResult> OnCompleted { get; }

    /// <summary>The request is invalid for the model; it never ran.</summary>
    public Action<ArgumentException> OnRejected { get; }

    /// <summary>Optional: every step of this sequence (canvas and changes), before <see cref="OnCompleted"/>.</summary>
    public Action<GenerationStep>? OnStep { get; init; }

    /// <summary>Optional: the sequence joined the batch, which then holds this many sequences (itself included).</summary>
    public Action<int>? OnStarted { get; init; }
}
