namespace MeDlm.Generation;

/// <summary>What kind of mistake a <see cref="GenerationRequestException"/> reports.</summary>
public enum GenerationRequestError
{
    /// <summary>A setting is out of range or contradicts another one or the model.</summary>
    InvalidValue,

    /// <summary>The prompt and the generation length do not fit the model's context.</summary>
    ContextLengthExceeded,
}

/// <summary>
/// A <see cref="GenerationRequest"/> that cannot run on the model, thrown by <see cref="Generator.Plan"/>
/// (and every generate call) before any pass. <see cref="Property"/> names the request property at fault,
/// so that a host can report it under its own name (the server's <c>max_tokens</c>, <c>medlm.budget</c>).
/// </summary>
/// <param name="property">The request property at fault.</param>
/// <param name="message">What is wrong, naming the property and the value.</param>
/// <param name="requestIndex">The request's index in its batch.</param>
/// <param name="error">The kind of mistake.</param>
/// <param name="inner">The exception that revealed it, if any.</param>
public sealed class GenerationRequestException(string property, string message, int requestIndex = 0,
    GenerationRequestError error = GenerationRequestError.InvalidValue, Exception? inner = null)
    : ArgumentException(message, inner)
{
    /// <summary>The <see cref="GenerationRequest"/> property at fault (<c>nameof(GenerationRequest.Budget)</c> ...).</summary>
    public string Property { get; } = property ?? throw new ArgumentNullException(nameof(property));

    /// <summary>The request's index in its batch (0 for a single request).</summary>
    public int RequestIndex { get; } = requestIndex;

    /// <summary>The kind of mistake.</summary>
    public GenerationRequestError Error { get; } = error;
}
