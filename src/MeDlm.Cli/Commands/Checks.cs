using Spectre.Console;

namespace MeDlm.Cli.Commands;

/// <summary>The one way the settings classes check their flags: each rule one line, the first failure wins.</summary>
internal static class Checks
{
    /// <summary>Success when <paramref name="condition"/> holds, else the error <paramref name="message"/>.</summary>
    public static ValidationResult Require(bool condition, string message) =>
        condition ? ValidationResult.Success() : ValidationResult.Error(message);

    /// <summary>The first unsuccessful result (in order: put the base class's first), else success.</summary>
    public static ValidationResult First(params ValidationResult[] results)
    {
        ArgumentNullException.ThrowIfNull(results);
        foreach (ValidationResult r in results)
        {
            if (!r.Successful)
            {
                return r;
            }
        }
        return ValidationResult.Success();
    }
}
