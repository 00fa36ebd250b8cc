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
                using var cudaOptions = new OrtCUDAProviderOptions();
                cudaOptions.UpdateOptions(CudaProviderOptions(options));
                so.AppendExecutionProvider_CUDA(cudaOptions);
            }
            catch (Exception e) when (e is OnnxRuntimeException or DllNotFoundException or EntryPointNotFoundException)
            {
                cudaFailure = CudaFailure.DescribeUnavailable(FirstLine(e.Message));
                return null;
            }
            if (options.CudaIntraOpNumThreads(out int threads))
            {
                so.IntraOpNumThreads = threads;
            }
            so.AddSessionConfigEntry("session.use_device_allocator_for_initializers", "1");
            if (options.CudaSharedAllocator)
            {
                try
                {
                    SharedCudaArena.Register(options);
                }
                catch (OnnxRuntimeException e)
                {
                    throw new ModelLoadException(path,
                        $"the shared CUDA memory arena for device {options.CudaDeviceId} could not be registered ({FirstLine(e.Message)}); set CudaSharedAllocator off", e);
                }
                so.AddSessionConfigEntry("session.use_env_allocators", "1");
            }
        }
        try
        {
            return new InferenceSession(path, so);
        }
        catch (OnnxRuntimeException e) when (cuda)
        {
            string msg = FirstLine(e.Message);
            switch (CudaFailure.Classify(e.Message))
            {
                case CudaFailureKind.Unavailable:
                    // Only this falls back in auto mode; everything else is an error of this device.
                    cudaFailure = CudaFailure.DescribeUnavailable(msg);
                    return null;
                case CudaFailureKind.OutOfMemory:
                    throw new ModelLoadException(path,
                        $"out of GPU memory on CUDA device {options.CudaDeviceId} while loading ({msg}); free GPU memory, raise GpuMemoryLimitBytes or use a smaller model", e);
                case CudaFailureKind.UnsupportedArchitecture:
                    throw new ModelLoadException(path,
                        $"the CUDA provider has no kernels for the GPU architecture of CUDA device {options.CudaDeviceId} ({msg})", e);
                case CudaFailureKind.OtherCuda:
                    throw new ModelLoadException(path, $"CUDA failed while loading ({msg})", e);
                default:
                    throw NotLoadable(path, msg, e);
            }
        }
        catch (OnnxRuntimeException e)
        {
            throw NotLoadable(path, FirstLine(e.Message), e);
        }
    }

    /// <summary>The CUDA provider options of <paramref name="options"/> (names as ONNX Runtime spells them).</summary>
    internal static Dictionary<string, string> CudaProviderOptions(ModelOptions options)
    {
        var d = new Dictionary<string, string>
        {
            ["device_id"] = options.CudaDeviceId.ToString(System.Globalization.CultureInfo.InvariantCulture),
            // Grow the arena by what is asked, not in powers of two: a large model must not reserve double.
            ["arena_extend_strategy"] = options.CudaArenaSameAsRequested ? "kSameAsRequested" : "kNextPowerOfTwo",
            ["do_copy_in_default_stream"] = "1",
            // TF32 matrix products change fp32 results; parity with the CPU needs it off.
            ["use_tf32"] = options.CudaUseTf32 ? "1" : "0",
        };
        if (options.GpuMemoryLimitBytes > 0)
        {
            d["gpu_mem_limit"] = options.GpuMemoryLimitBytes.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        if (options.CudaGraphs)
        {
            d["enable_cuda_graph"] = "1";
        }
        return d;
    }

    private static ModelLoadException NotLoadable(string path, string msg, Exception e)
    {
        bool notOnnx = msg.Contains("Protobuf parsing failed", StringComparison.OrdinalIgnoreCase)
            || msg.Contains("INVALID_PROTOBUF", StringComparison.OrdinalIgnoreCase);
        return new ModelLoadException(path, notOnnx ? $"is not an ONNX model ({msg})" : $"ONNX Runtime cannot load it ({msg})", e);
    }

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

/// <summary>
/// One CUDA memory arena per device, registered in the ONNX Runtime environment and used by every session
/// created with session.use_env_allocators (the denoiser and the edit head share it instead of keeping an
/// arena each, so memory freed by one serves the other). Registered once per device for the process.
/// </summary>
internal static class SharedCudaArena
{
    private static readonly Lock Gate = new();
    private static readonly HashSet<int> Registered = [];

    /// <summary>The provider name ONNX Runtime's allocator registration takes.</summary>
    internal const string ProviderType = "CUDAExecutionProvider";

    public static void Register(ModelOptions options)
    {
        lock (Gate)
        {
            if (Registered.Contains(options.CudaDeviceId))
            {
                return;
            }
            using var info = new OrtMemoryInfo(OrtMemoryInfo.allocatorCUDA, OrtAllocatorType.ArenaAllocator, options.CudaDeviceId, OrtMemType.Default);
            // max_mem 0 (the memory limit goes by the provider option, which is not bounded by a uint),
            // extend strategy as the sessions', default initial chunk and dead bytes.
            using var arena = new OrtArenaCfg(0, options.CudaArenaSameAsRequested ? 1 : 0, -1, -1);
            OrtEnv.Instance().CreateAndRegisterAllocator(ProviderType, info, arena, ArenaProviderOptions(options));
            Registered.Add(options.CudaDeviceId);
        }
    }

    /// <summary>The provider options the shared arena is created with (device and memory limit).</summary>
    internal static Dictionary<string, string> ArenaProviderOptions(ModelOptions options)
    {
        Dictionary<string, string> all = SessionFactory.CudaProviderOptions(options);
        var d = new Dictionary<string, string> { ["device_id"] = all["device_id"] };
        if (all.TryGetValue("gpu_mem_limit", out string? limit))
        {
            d["gpu_mem_limit"] = limit;
        }
        return d;
    }
}
