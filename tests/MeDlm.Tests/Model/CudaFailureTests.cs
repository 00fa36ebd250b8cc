using MeDlm.Model;
using MeDlm.Sessions;

namespace MeDlm.Tests.Model;

/// <summary>
/// CUDA error classification from ONNX Runtime's own message formats (CUDA_CALL, the BFC arena, cuBLAS,
/// the provider bridge), so that the CUDA-only branches are checked on a machine without a GPU.
/// </summary>
public sealed class CudaFailureTests
{
    private const string CudaMallocOom =
        "[ErrorCode:Fail] Load model from denoiser.onnx failed:/onnxruntime_src/onnxruntime/core/providers/cuda/cuda_call.cc:129 "
        + "std::conditional_t<THRW, void, onnxruntime::common::Status> onnxruntime::CudaCall(ERRTYPE, const char*, const char*, "
        + "SUCCTYPE, const char*, const char*, int) [with ERRTYPE = cudaError; bool THRW = true; SUCCTYPE = cudaError; "
        + "std::conditional_t<THRW, void, onnxruntime::common::Status> = void] CUDA failure 2: out of memory ; GPU=0 ; "
        + "hostname=h200 ; file=/onnxruntime_src/onnxruntime/core/providers/cuda/cuda_allocator.cc ; line=47 ; expr=cudaMalloc((void**)&p, size);";

    private const string ArenaOom =
        "[ErrorCode:RuntimeException] Non-zero status code returned while running MatMul node. Name:'/lm_head/MatMul' "
        + "Status Message: /onnxruntime_src/onnxruntime/core/framework/bfc_arena.cc:359 void* onnxruntime::BFCArena::AllocateRawInternal"
        + "(size_t, bool, onnxruntime::Stream*, bool, onnxruntime::WaitNotificationFn) Failed to allocate memory for requested buffer of size 2621440000";

    private const string CublasAllocFailed =
        "[ErrorCode:Fail] CUBLAS failure 3: CUBLAS_STATUS_ALLOC_FAILED ; GPU=0 ; hostname=h200 ; "
        + "file=/onnxruntime_src/onnxruntime/core/providers/cuda/cuda_execution_provider.cc ; line=168 ; expr=cublasCreate(&cublas_handle_);";

    private const string MissingCublasLt =
        "/onnxruntime_src/onnxruntime/core/session/provider_bridge_ort.cc:1778 onnxruntime::Provider& onnxruntime::ProviderLibrary::Get() "
        + "[ONNXRuntimeError] : 1 : FAIL : Failed to load library libonnxruntime_providers_cuda.so with error: "
        + "libcublasLt.so.13: cannot open shared object file: No such file or directory";

    private const string NoKernelImage =
        "[ErrorCode:RuntimeException] Non-zero status code returned while running Softmax node. Name:'/Softmax' Status Message: "
        + "CUDA error cudaErrorNoKernelImageForDevice:no kernel image is available for execution on the device";

    private const string NoDevice =
        "[ErrorCode:Fail] CUDA failure 100: no CUDA-capable device is detected ; GPU=0 ; hostname=h ; file=cuda_execution_provider.cc ; "
        + "line=282 ; expr=cudaSetDevice(info_.device_id);";

    [Theory]
    [InlineData(CudaMallocOom)]
    [InlineData(ArenaOom)]
    [InlineData(CublasAllocFailed)]
    public void Out_of_memory_is_out_of_memory_not_cuda_unavailable(string message)
    {
        // The defect: any message mentioning CUDA counted as "CUDA unavailable", so auto mode loaded a
        // model that did not fit on the GPU silently on the CPU.
        Assert.Equal(CudaFailureKind.OutOfMemory, CudaFailure.Classify(message));
    }

    [Theory]
    [InlineData(MissingCublasLt)]
    [InlineData(NoDevice)]
    [InlineData("[ErrorCode:Fail] OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared library")]
    public void Missing_libraries_and_devices_are_unavailable(string message) =>
        Assert.Equal(CudaFailureKind.Unavailable, CudaFailure.Classify(message));

    [Fact]
    public void Unsupported_architecture_says_so() =>
        Assert.Equal(CudaFailureKind.UnsupportedArchitecture, CudaFailure.Classify(NoKernelImage));

    [Fact]
    public void Graph_errors_are_not_cuda_errors() =>
        Assert.Equal(CudaFailureKind.NotCuda,
            CudaFailure.Classify("[ErrorCode:InvalidProtobuf] Load model from x.onnx failed:Protobuf parsing failed."));

    [Fact]
    public void Missing_library_is_named_by_its_soname()
    {
        Assert.Equal("libcublasLt.so.13", CudaFailure.MissingLibrary(MissingCublasLt));
        Assert.Null(CudaFailure.MissingLibrary(CudaMallocOom));
        Assert.StartsWith("libcublasLt.so.13 cannot be loaded", CudaFailure.DescribeUnavailable(MissingCublasLt), StringComparison.Ordinal);
    }

    [Fact]
    public void Cuda_provider_options_keep_fp32_parity_and_grow_the_arena_by_request()
    {
        Dictionary<string, string> d = SessionFactory.CudaProviderOptions(new ModelOptions { CudaDeviceId = 1, GpuMemoryLimitBytes = 40L << 30 });
        Assert.Equal("1", d["device_id"]);
        Assert.Equal("0", d["use_tf32"]);
        Assert.Equal("kSameAsRequested", d["arena_extend_strategy"]);
        Assert.Equal("42949672960", d["gpu_mem_limit"]);
        Assert.Equal("1", SessionFactory.CudaProviderOptions(new ModelOptions { CudaUseTf32 = true })["use_tf32"]);
        Assert.False(SessionFactory.CudaProviderOptions(new ModelOptions()).ContainsKey("gpu_mem_limit"));
    }

    [Fact]
    public void On_a_machine_without_cuda_the_provider_error_names_what_is_missing()
    {
        try
        {
            using var package = ModelPackage.Load(Generation.TestModels.FixturePackagePath, new ModelOptions { ExecutionProvider = ExecutionProvider.Cuda });
            Assert.Equal(ExecutionProvider.Cuda, package.ExecutionProvider);
        }
        catch (ModelLoadException e)
        {
            // The real loader error of this machine: the CUDA provider's first missing NEEDED library.
            Assert.Matches(@"could not be created \(lib[A-Za-z0-9_]+\.so(\.[0-9]+)* cannot be loaded", e.Message);
        }
    }
}
