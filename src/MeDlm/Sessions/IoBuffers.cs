using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace MeDlm.Sessions;

/// <summary>
/// A host buffer that ONNX Runtime reads inputs from or writes outputs to, and the kernels read in place:
/// a pinned managed array (CPU provider, or CUDA without page-locked memory), or page-locked memory from
/// ONNX Runtime's CudaPinned allocator (CUDA: a pinned managed array is pageable to the CUDA driver, so its
/// copies are staged and synchronous). Sized once; per-shape OrtValues are views over its start.
/// </summary>
internal sealed unsafe class HostBuffer<T> : IDisposable
    where T : unmanaged
{
    private readonly T[]? _array;
    private readonly OrtMemoryAllocation? _pinned;
    private readonly OrtMemoryInfo _info;
    private readonly TensorElementType _type;
    private readonly nint _pointer;

    /// <summary>An empty buffer (a form the package does not use).</summary>
    public HostBuffer()
    {
        _array = [];
        _info = OrtMemoryInfo.DefaultInstance;
    }

    /// <param name="length">Elements.</param>
    /// <param name="type">The ONNX element type of <typeparamref name="T"/>.</param>
    /// <param name="pinnedAllocator">CUDA: the session's CudaPinned allocator; null: a pinned managed array.</param>
    public HostBuffer(int length, TensorElementType type, OrtAllocator? pinnedAllocator)
    {
        _type = type;
        Length = length;
        long bytes = (long)length * sizeof(T);
        // OrtAllocator.Allocate takes a uint; a larger buffer stays a pinned managed array.
        if (pinnedAllocator is not null && bytes <= uint.MaxValue && length > 0)
        {
            _pinned = pinnedAllocator.Allocate((uint)bytes);
            _info = _pinned.Info;
            _pointer = _pinned.DangerousGetHandle();
        }
        else
        {
            _array = GC.AllocateUninitializedArray<T>(length, pinned: true);
            _info = OrtMemoryInfo.DefaultInstance;
            _pointer = length == 0 ? 0 : (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_array));
        }
    }

    public int Length { get; }

    /// <summary>Whether the memory is page-locked by the CUDA driver.</summary>
    public bool PageLocked => _pinned is not null;

    public Span<T> Span => _array is not null ? _array.AsSpan(0, Length) : new Span<T>((void*)_pointer, Length);

    /// <summary>An OrtValue over the first <paramref name="count"/> elements with <paramref name="shape"/>.</summary>
    public OrtValue View(long[] shape, int count)
    {
        if ((uint)count > (uint)Length)
        {
            throw new ArgumentOutOfRangeException(nameof(count), count, $"The buffer holds {Length} elements.");
        }
        return _array is not null
            ? OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, _array.AsMemory(0, count), shape)
            : OrtValue.CreateTensorValueWithData(_info, _type, shape, _pointer, (long)count * sizeof(T));
    }

    public void Dispose() => _pinned?.Dispose();
}

/// <summary>
/// Memory on the provider's device allocated through the session's allocator (CPU memory on the CPU
/// provider, GPU memory on CUDA): the hidden states handed from the denoiser to the edit head, and with CUDA
/// graphs the fixed-address inputs and outputs. Never read by managed code.
/// </summary>
internal sealed class DeviceBuffer : IDisposable
{
    private readonly OrtMemoryAllocation _memory;
    private readonly TensorElementType _type;
    private readonly int _elementSize;

    public DeviceBuffer(OrtAllocator allocator, TensorElementType type, int elementSize, int length, string what)
    {
        long bytes = (long)length * elementSize;
        if (bytes > uint.MaxValue)
        {
            throw new InvalidOperationException(
                $"The {what} of this batch need {bytes} bytes on the device, more than one ONNX Runtime allocation takes (4 GiB); use smaller batches.");
        }
        _memory = allocator.Allocate((uint)Math.Max(bytes, elementSize));
        _type = type;
        _elementSize = elementSize;
        Length = length;
    }

    public int Length { get; }

    public OrtMemoryInfo Info => _memory.Info;

    /// <summary>An OrtValue over the first <paramref name="count"/> elements with <paramref name="shape"/>.</summary>
    public OrtValue View(long[] shape, int count)
    {
        if ((uint)count > (uint)Length)
        {
            throw new ArgumentOutOfRangeException(nameof(count), count, $"The buffer holds {Length} elements.");
        }
        return OrtValue.CreateTensorValueWithData(_memory.Info, _type, shape, _memory.DangerousGetHandle(), (long)count * _elementSize);
    }

    public void Dispose() => _memory.Dispose();
}
