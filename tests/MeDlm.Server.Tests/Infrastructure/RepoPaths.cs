using MeDlm.Tests.Shared;
namespace MeDlm.Server.Tests.Infrastructure;

/// <summary>Where the tests find the repository and the model they serve.</summary>
public static class RepoPaths
{
    /// <summary>The model every server test serves, relative to the repository root: the bundled package.</summary>
    public const string ModelPackage = "onnx/medlm-tiny";

    /// <summary>The folder holding MeDlm.sln, found by walking up from the test binaries.</summary>
    public static string RepoRoot => RepositoryRoot.Path;

    /// <summary>
    /// Full path of <see cref="ModelPackage"/>. MEDLM_TEST_PACKAGE may point elsewhere while developing
    /// (as for the runtime's own tests); a missing package fails the tests, it never skips them.
    /// </summary>
    public static string ModelPackagePath =>
        Environment.GetEnvironmentVariable("MEDLM_TEST_PACKAGE") is { Length: > 0 } p ? p : Path.Combine(RepoRoot, ModelPackage);

    /// <summary>The served model's context (manifest <c>max_sequence_length</c>).</summary>
    public static int ModelContextLength
    {
        get
        {
            using var manifest = System.Text.Json.JsonDocument.Parse(File.ReadAllBytes(Path.Combine(ModelPackagePath, "medlm.json")));
            return manifest.RootElement.GetProperty("max_sequence_length").GetInt32();
        }
    }

    /// <summary>The server's entry assembly, copied next to the tests by the project reference.</summary>
    public static string ServerDll => Path.Combine(AppContext.BaseDirectory, "MeDlm.Server.dll");
}
