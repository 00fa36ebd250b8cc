using MeDlm.Model;
using MeDlm.Tests.Shared;

namespace MeDlm.Tests.Generation;

/// <summary>
/// Locations of the models the runtime tests use. The bundled model and its decoder golden file are
/// onnx/medlm-tiny and tests/golden/medlm-tiny/decoders.json; MEDLM_TEST_PACKAGE and
/// MEDLM_TEST_GOLDEN point the tests at another package / golden pair (e.g. a random-weights
/// development build). The fixture package under tests/fixtures is tiny and always present.
/// </summary>
internal static class TestModels
{
    private static readonly Lazy<ModelPackage> Tiny = new(() => ModelPackage.Load(TinyPackagePath));
    private static readonly Lazy<ModelPackage> Fixture = new(() => ModelPackage.Load(FixturePackagePath));
    private static readonly Lazy<ModelPackage> Dream = new(() => ModelPackage.Load(DreamPackagePath));

    public static string RepoRoot => RepositoryRoot.Path;

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

    /// <summary>The tiny random Dream-layout package (export/golden_dream.py) and its decoder golden file.</summary>
    public static string DreamPackagePath => Path.Combine(RepoRoot, "tests", "fixtures", "packages", "tiny-dream");

    public static string DreamGoldenPath => Path.Combine(RepoRoot, "tests", "golden", "tiny-dream", "decoders.json");

    public static string BadGraphsPath => Path.Combine(RepoRoot, "tests", "fixtures", "bad-graphs");

    /// <summary>The bundled (or MEDLM_TEST_PACKAGE) model, loaded once for all tests.</summary>
    public static ModelPackage TinyPackage => Tiny.Value;

    /// <summary>The fixture package, loaded once for all tests.</summary>
    public static ModelPackage FixturePackage => Fixture.Value;

    /// <summary>The Dream fixture package, loaded once for all tests.</summary>
    public static ModelPackage DreamPackage => Dream.Value;
}
