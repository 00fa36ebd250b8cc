namespace MeDlm.Tests.Shared;

/// <summary>
/// The repository root: the folder holding MeDlm.sln, found by walking up from the test binaries. One source
/// file, compiled into each test and benchmark project (tests/Shared, linked from their project files).
/// </summary>
internal static class RepositoryRoot
{
    private static readonly Lazy<string> Root = new(Find);

    public static string Path => Root.Value;

    private static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "MeDlm.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException("The repository root (MeDlm.sln) was not found above " + AppContext.BaseDirectory);
    }
}
