using MeDlm.Model;

namespace MeDlm.Tests.Generation;

/// <summary>
/// Locations of the models the runtime tests use. The bundled model and its decoder golden file are
/// onnx/medlm-tiny and tests/golden/medlm-tiny/decoders.json; MEDLM_TEST_PACKAGE and
/// MEDLM_TEST_GOLDEN point the tests at another package / golden pair (e.g. a random-weights
/// development build). The fixture package under tests/fixtures is tiny and always present.
/// </summary>
internal static class TestModels
{
    private static readonly Lazy<string> Root = new(FindRoot);
    private static readonly Lazy<ModelPackage> Tiny = new(() => ModelPackage.Load(TinyPackagePath));
    private static readonly Lazy<ModelPackage> Fixture = new(() => ModelPackage.Load(FixturePackagePath));

    public static string RepoRoot => Root.Value;

    public static string TinyPackagePath =>
        Environment.GetEnvironmentVariable("MEDLM_TEST_PACKAGE") is { Length: > 0 } p ? p : Path.Combine(RepoRoot, "onnx", "medlm-tiny");

    public static string DecoderGoldenPath =>
        Environment.GetEnvironmentVariable("MEDLM_TEST_GOLDEN") is { Length: > 0 } p
            ? p
            : Path.Combine(RepoRoot, "tests", "golden", "medlm-tiny", "decoders.json");

    /// <summary>The logits golden file of the exporter (export_onnx.py --golden), next to the decoder golden.</summary>
    public static string LogitsGoldenPath =>
        Environment.GetEnvironmentVariable("MEDLM_TEST_LOGITS_GOLDEN") is { Length: > 0 } p
            ? p
            : Path.Combine(RepoRoot, "tests", "golden", "medlm-tiny", "logits.json");

    /// <summary>A valid package with hand-made graphs (tests/fixtures/packages/tiny-fixture, export/make_fixtures.py).</summary>
    public static string FixturePackagePath => Path.Combine(RepoRoot, "tests", "fixtures", "packages", "tiny-fixture");

    public static string BadGraphsPath => Path.Combine(RepoRoot, "tests", "fixtures", "bad-graphs");

    /// <summary>The bundled (or MEDLM_TEST_PACKAGE) model, loaded once for all tests.</summary>
    public static ModelPackage TinyPackage => Tiny.Value;

    /// <summary>The fixture package, loaded once for all tests.</summary>
    public static ModelPackage FixturePackage => Fixture.Value;

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "MeDlm.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException("The repository root (MeDlm.sln) was not found above " + AppContext.BaseDirectory);
    }
}
