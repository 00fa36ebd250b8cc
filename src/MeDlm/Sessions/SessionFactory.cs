using MeDlm.Model;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace MeDlm.Sessions;

/// <summary>One tensor of a graph's contract: name, element type, rank and the expected last dimension.</summary>
internal readonly record struct TensorSpec(string Name, TensorElementType ElementType, int Rank, int LastDim, string LastDimName);

/// <summary>Creates ONNX Runtime sessions for a package and checks them against the graph contract (docs/DESIGN.md §3.3).</summary>
internal static class SessionFactory
{
    /// <summary>
    /// Creates a session for <paramref name="path"/> on <paramref name="provider"/>. For
    /// <see cref="ExecutionProvider.Auto"/> it tries CUDA and falls back to the CPU, logging one line; the
    /// provider actually used is returned in <paramref name="used"/> so later sessions of the package
    /// use the same one without trying again.
    /// </summary>
    public static InferenceSession Create(string path, ModelOptions options, ExecutionProvider provider, out ExecutionProvider used)
    {
        if (provider == ExecutionProvider.Cpu)
        {
            used = ExecutionProvider.Cpu;
            return CreateOn(path, options, cuda: false, out _)!;
        }
        InferenceSession? session;
        string? cudaFailure;
        if (provider == ExecutionProvider.Auto)
        {
            // ONNX Runtime logs the failed provider load itself; quiet it so that the fallback is one line (ours).
            OrtEnv env = OrtEnv.Instance();
            OrtLoggingLevel level = env.EnvLogLevel;
            env.EnvLogLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL;
            try
            {
                session = CreateOn(path, options, cuda: true, out cudaFailure);
            }
            finally
            {
                env.EnvLogLevel = level;
            }
        }
        else
        {
            session = CreateOn(path, options, cuda: true, out cudaFailure);
        }
        if (session is not null)
        {
            used = ExecutionProvider.Cuda;
            return session;
        }
        if (provider == ExecutionProvider.Cuda)
        {
            throw new ModelLoadException(path,
                $"the CUDA execution provider could not be created ({cudaFailure}); install CUDA and cuDNN or use the cpu or auto provider");
        }
        // A bad file fails again on the CPU with its own message; only CUDA problems fall back.
        session = CreateOn(path, options, cuda: false, out _)!;
        if (options.Logger is { } log)
        {
            LoadLog.CudaFallback(log, cudaFailure ?? "unknown reason");
        }
        used = ExecutionProvider.Cpu;
        return session;
    }

    /// <summary>
    /// The intra-op pool size: the configured count, else one per processor this process may use.
    /// Not ONNX Runtime's own default (0): it counts the host's cores, ignoring a container's CPU quota,
    /// and on a small VM it ran no faster than one thread (src/MeDlm.Server/README.md, Configure).
    /// <see cref="Environment.ProcessorCount"/> honours affinity and quotas.
    /// </summary>
    internal static int IntraOpThreads(ModelOptions options) =>
        options.IntraOpNumThreads > 0 ? options.IntraOpNumThreads : Environment.ProcessorCount;

    /// <summary>The session, or null with <paramref name="cudaFailure"/> set when the CUDA provider failed.</summary>
    private static InferenceSession? CreateOn(string path, ModelOptions options, bool cuda, out string? cudaFailure)
    {
        cudaFailure = null;
        using var so = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            IntraOpNumThreads = IntraOpThreads(options),
            InterOpNumThreads = options.InterOpNumThreads,
            LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR,
        };
        if (cuda)
        {
            try
            {
                so.AppendExecutionProvider_CUDA(options.CudaDeviceId);
            }
            catch (Exception e) when (e is OnnxRuntimeException or DllNotFoundException or EntryPointNotFoundException)
            {
                cudaFailure = FirstLine(e.Message);
                return null;
            }
        }
        try
        {
            return new InferenceSession(path, so);
        }
        catch (OnnxRuntimeException e) when (cuda && LooksLikeCudaFailure(e.Message))
        {
            cudaFailure = FirstLine(e.Message);
            return null;
        }
        catch (OnnxRuntimeException e)
        {
            string msg = FirstLine(e.Message);
            bool notOnnx = msg.Contains("Protobuf parsing failed", StringComparison.OrdinalIgnoreCase)
                || msg.Contains("INVALID_PROTOBUF", StringComparison.OrdinalIgnoreCase);
            throw new ModelLoadException(path, notOnnx ? $"is not an ONNX model ({msg})" : $"ONNX Runtime cannot load it ({msg})", e);
        }
    }

    private static bool LooksLikeCudaFailure(string message) =>
        message.Contains("CUDA", StringComparison.OrdinalIgnoreCase) || message.Contains("cudnn", StringComparison.OrdinalIgnoreCase)
        || message.Contains("cublas", StringComparison.OrdinalIgnoreCase);

    private static string FirstLine(string s)
    {
        int nl = s.IndexOf('\n', StringComparison.Ordinal);
        return (nl < 0 ? s : s[..nl]).Trim();
    }

    /// <summary>
    /// Checks that the session's inputs and outputs are exactly those the runtime feeds and reads:
    /// names, element types, ranks, symbolic batch/sequence dims and fixed last dims.
    /// Extra outputs are allowed (they are not requested); extra inputs are not (they could not be fed).
    /// </summary>
    public static void CheckContract(InferenceSession session, string path, ReadOnlySpan<TensorSpec> inputs, ReadOnlySpan<TensorSpec> outputs)
    {
        IReadOnlyDictionary<string, NodeMetadata> inMeta = session.InputMetadata;
        IReadOnlyDictionary<string, NodeMetadata> outMeta = session.OutputMetadata;
        foreach (TensorSpec spec in inputs)
        {
            if (!inMeta.TryGetValue(spec.Name, out NodeMetadata? m))
            {
                throw new ModelLoadException(path, $"missing input '{spec.Name}' (the graph's inputs are {Names(inMeta.Keys)})");
            }
            CheckTensor(path, "input", spec, m);
        }
        foreach (string name in inMeta.Keys)
        {
            bool known = false;
            foreach (TensorSpec spec in inputs)
            {
                known |= spec.Name == name;
            }
            if (!known)
            {
                throw new ModelLoadException(path, $"unexpected input '{name}' (the runtime feeds only {Names(inputs)})");
            }
        }
        foreach (TensorSpec spec in outputs)
        {
            if (!outMeta.TryGetValue(spec.Name, out NodeMetadata? m))
            {
                throw new ModelLoadException(path, $"missing output '{spec.Name}' (the graph's outputs are {Names(outMeta.Keys)})");
            }
            CheckTensor(path, "output", spec, m);
        }
    }

    private static void CheckTensor(string path, string kind, TensorSpec spec, NodeMetadata m)
    {
        if (!m.IsTensor)
        {
            throw new ModelLoadException(path, $"{kind} '{spec.Name}' is a {m.OnnxValueType}, expected a tensor");
        }
        if (m.ElementDataType != spec.ElementType)
        {
            throw new ModelLoadException(path, $"{kind} '{spec.Name}' has element type {TypeName(m.ElementDataType)}, expected {TypeName(spec.ElementType)}");
        }
        int[] dims = m.Dimensions;
        if (dims.Length != spec.Rank)
        {
            string expected = spec.Rank == 2 ? "[batch, seq]" : $"[batch, seq, {spec.LastDimName}]";
            throw new ModelLoadException(path, $"{kind} '{spec.Name}' has rank {dims.Length}, expected {spec.Rank} {expected}");
        }
        for (int d = 0; d < 2; d++)
        {
            if (dims[d] >= 0)
            {
                throw new ModelLoadException(path,
                    $"{kind} '{spec.Name}' has a fixed {(d == 0 ? "batch" : "sequence")} dimension ({dims[d]}); it must be symbolic (re-export with dynamic axes)");
            }
        }
        if (spec.Rank == 3 && dims[2] >= 0 && dims[2] != spec.LastDim)
        {
            throw new ModelLoadException(path,
                $"{kind} '{spec.Name}' has {spec.LastDimName} dimension {dims[2]}, but medlm.json says {spec.LastDim}");
        }
    }

    private static string TypeName(TensorElementType t) => t switch
    {
        TensorElementType.Float => "float32",
        TensorElementType.Float16 => "float16",
        TensorElementType.Int64 => "int64",
        TensorElementType.Int32 => "int32",
        _ => t.ToString().ToLowerInvariant(),
    };

    private static string Names(IEnumerable<string> names) => string.Join(", ", names.Select(n => $"'{n}'"));

    private static string Names(ReadOnlySpan<TensorSpec> specs)
    {
        var parts = new string[specs.Length];
        for (int i = 0; i < specs.Length; i++)
        {
            parts[i] = $"'{specs[i].Name}'";
        }
        return string.Join(", ", parts);
    }
}
