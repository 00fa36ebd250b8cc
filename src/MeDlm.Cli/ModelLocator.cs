namespace MeDlm.Cli;

/// <summary>Finds the model folder: <c>--model</c>, else the bundled <c>onnx/medlm-tiny</c> of the repository.</summary>
internal static class ModelLocator
{
    /// <summary>The bundled package, relative to the repository root.</summary>
    public static readonly string BundledRelative = Path.Combine("onnx", "medlm-tiny");

    /// <summary>
    /// The explicit folder if given; otherwise the first folder containing <c>onnx/medlm-tiny/medlm.json</c>
    /// found walking up from the current directory, then from the tool's own directory (a build output
    /// inside the repository).
    /// </summary>
    public static string Resolve(string? explicitFolder)
    {
        if (!string.IsNullOrWhiteSpace(explicitFolder))
        {
            return Path.GetFullPath(explicitFolder);
        }
        string? found = FindUp(Environment.CurrentDirectory, BundledRelative, "medlm.json")
            ?? FindUp(AppContext.BaseDirectory, BundledRelative, "medlm.json");
        if (found is null)
        {
            throw new CliException(
                $"no --model given and the bundled model ({Path.Combine(BundledRelative, "medlm.json")}) was not found above {Environment.CurrentDirectory} or {AppContext.BaseDirectory}; pass --model DIR",
                ExitCodes.RuntimeError);
        }
        return found;
    }

    /// <summary>The first <paramref name="start"/>/../<paramref name="relative"/> folder that holds <paramref name="marker"/>, walking up.</summary>
    public static string? FindUp(string start, string relative, string marker)
    {
        DirectoryInfo? dir = new(Path.GetFullPath(start));
        while (dir is not null)
        {
            string candidate = Path.Combine(dir.FullName, relative);
            if (File.Exists(Path.Combine(candidate, marker)))
            {
                return candidate;
            }
            dir = dir.Parent;
        }
        return null;
    }

    /// <summary>The repository root holding <paramref name="relativeFile"/>, walking up from the current directory, then the tool's directory, then the model folder.</summary>
    public static string? FindRepoFile(string relativeFile, string? modelFolder)
    {
        foreach (string? start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory, modelFolder })
        {
            if (start is null)
            {
                continue;
            }
            DirectoryInfo? dir = new(Path.GetFullPath(start));
            while (dir is not null)
            {
                string candidate = Path.Combine(dir.FullName, relativeFile);
                if (File.Exists(candidate))
                {
                    return candidate;
                }
                dir = dir.Parent;
            }
        }
        return null;
    }
}
