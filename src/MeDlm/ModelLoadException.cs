namespace MeDlm;

/// <summary>
/// A file of a model package (manifest, tokenizer, graph) is missing, unreadable or not what the runtime
/// supports. The message always starts with the file path so a user can see which file to fix.
/// </summary>
public sealed class ModelLoadException : Exception
{
    /// <summary>Creates the exception for <paramref name="file"/> with a description of the problem.</summary>
    public ModelLoadException(string file, string message)
        : base($"{file}: {message}")
    {
        FilePath = file;
    }

    /// <summary>Creates the exception with the error that caused it (I/O, JSON parsing).</summary>
    public ModelLoadException(string file, string message, Exception innerException)
        : base($"{file}: {message}", innerException)
    {
        FilePath = file;
    }

    /// <summary>Creates the exception with a message only (no file known).</summary>
    public ModelLoadException()
        : base("The model package could not be loaded.")
    {
        FilePath = string.Empty;
    }

    /// <summary>Creates the exception with a message only (no file known).</summary>
    public ModelLoadException(string message)
        : base(message)
    {
        FilePath = string.Empty;
    }

    /// <summary>Creates the exception with a message only (no file known) and its cause.</summary>
    public ModelLoadException(string message, Exception innerException)
        : base(message, innerException)
    {
        FilePath = string.Empty;
    }

    /// <summary>The file the problem was found in (empty when unknown).</summary>
    public string FilePath { get; }
}
