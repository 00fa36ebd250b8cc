namespace MeDlm.Extensions.AI.Tests;

/// <summary>The bundled model (onnx/medlm-tiny), loaded once, and a generator over it for the expected answers.</summary>
internal static class BundledModel
{
    private static readonly Lazy<ModelPackage> LazyPackage = new(() => ModelPackage.Load(Folder));
    private static readonly Lazy<Generator> LazyGenerator = new(() => new Generator(Package));

    public static string Folder => Path.Combine(RepositoryRoot.Path, "onnx", "medlm-tiny");

    public static ModelPackage Package => LazyPackage.Value;

    /// <summary>Shared by the clients under test and the expectations (the generator serialises calls).</summary>
    public static Generator Generator => LazyGenerator.Value;
}
