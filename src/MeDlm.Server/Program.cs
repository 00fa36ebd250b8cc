using Microsoft.Extensions.Options;

namespace MeDlm.Server;

/// <summary>The <c>medlm-server</c> entry point.</summary>
public static class Program
{
    /// <summary>Exit code of a configuration that fails validation.</summary>
    public const int ConfigurationErrorExitCode = 2;

    /// <summary>Exit code of a start that fails otherwise (the port is taken, ...).</summary>
    public const int StartFailedExitCode = 1;

    /// <summary>Runs the server until SIGTERM / Ctrl+C / the service manager stops it.</summary>
    public static int Main(string[] args)
    {
        WebApplication app;
        try
        {
            app = ServerApp.Build(args);
        }
        catch (OptionsValidationException e)
        {
            ReportConfigurationError(e);
            return ConfigurationErrorExitCode;
        }
        try
        {
            app.Run();
        }
        catch (OptionsValidationException e)
        {
            ReportConfigurationError(e);
            return ConfigurationErrorExitCode;
        }
        catch (IOException e)
        {
            Console.Error.WriteLine($"medlm-server: cannot start: {e.Message}");
            return StartFailedExitCode;
        }
        // 0 after a clean stop; set by the model loader when the model cannot be loaded.
        return Environment.ExitCode;
    }

    private static void ReportConfigurationError(OptionsValidationException e)
    {
        Console.Error.WriteLine("medlm-server: invalid configuration:");
        foreach (string failure in e.Failures)
        {
            Console.Error.WriteLine("  " + failure);
        }
    }
}
