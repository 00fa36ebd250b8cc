using System.Diagnostics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using MeDlm.Model;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace MeDlm.Sessions;

/// <summary>
/// Runs the denoiser (and the edit head) over a right-padded batch with buffers that live across passes:
/// the caller writes ids and the attention mask in place, ONNX Runtime writes the outputs straight into our
/// host buffers (no copies), and the kernels read them in place. The hidden states go from the denoiser to
/// the edit head in one buffer on the provider's device (<see cref="DeviceBuffer"/>): bound as the
/// denoiser's output and the edit head's input, never read or copied by managed code (docs/DESIGN.md §4).
/// Buffers grow to the largest batch x seq seen and are then reused; each bound shape gets its OrtValues and
/// I/O bindings once and keeps them until the buffers grow, so a pass allocates nothing. With shape buckets
/// (<see cref="ModelOptions.ShapeBucket"/>) the shapes are padded so that edit rounds reuse a few of them.
/// Not thread-safe: one per generator.
/// </summary>
/// <remarks>
/// Output forms: the denoiser's full logits or top-K form, the edit head's full next-token logits or its
/// argmax form (next_token_ids, next_token_prob). Float16 packages with full outputs: ONNX Runtime writes
/// half-precision rows into staging buffers that are widened to float for the kernels (the reduced forms
/// are float32 in the graph, so nothing is widened).
/// CUDA: host buffers are page-locked (CudaPinned allocator) unless <see cref="ModelOptions.CudaPinnedHostMemory"/>
/// is off; the inputs are bound again before every pass (a bound CPU value is copied to the device when it is
/// bound). With <see cref="ModelOptions.CudaGraphs"/> every input and output lives in a fixed device buffer
/// per shape instead, copied from and to the host buffers around the runs, and each shape replays its own
/// captured graph (run option gpu_graph_id).
/// </remarks>
internal sealed class ModelRunner : IDisposable
{
    /// <summary>Host bytes per position of the inputs (input_ids and attention_mask, int64 each).</summary>
    public const int InputBytesPerPosition = 16;

    private readonly InferenceSession _denoiser;
    private readonly InferenceSession? _editHead;
    private readonly int _vocab;
    private readonly int _hidden;
    private readonly bool _half;
    private readonly int _topK; // 0: the denoiser outputs full logits
    private readonly bool _editArgmax;
    private readonly int _specials;
    private readonly int[] _specialIds;
    private readonly RunOptions _runOptions = new();
    private readonly bool _rebindInputs;
    private readonly int _bucket; // 1: exact shapes
    private readonly int _maxSeq;
    private readonly bool _graphs;
    private readonly OrtAllocator _deviceAllocator;
    private readonly bool _ownsDeviceAllocator;
    private readonly OrtAllocator? _pinnedAllocator;
    private readonly OrtMemoryInfo? _deviceInfo;
    private readonly OrtMemoryInfo? _pinnedInfo;
    private readonly TensorElementType _floatType;

    // Inputs and outputs are bound once per shape and the bindings kept, so a pass marshals no names and
    // allocates nothing, also when edit rounds move the length back and forth between a few shapes.
    private const int MaxCachedShapes = 64;
    private readonly Dictionary<long, ShapeBinding> _shapes = [];
    private ShapeBinding? _current;
    private int _nextGraphId;

    private HostBuffer<long> _ids = new();
    private HostBuffer<long> _mask = new();
    private HostBuffer<float> _logits = new();
    private HostBuffer<Float16> _logits16 = new();
    private HostBuffer<float> _next = new();
    private HostBuffer<Float16> _next16 = new();
    private HostBuffer<long> _nextIds = new();
    private HostBuffer<float> _nextProb = new();
    private HostBuffer<long> _topIds = new();
    private HostBuffer<float> _topLogits = new();
    private HostBuffer<float> _lse = new();
    private HostBuffer<float> _specialLogits = new();
    private DeviceBuffer? _hiddenStates;
    private readonly Dictionary<object, DeviceBuffer> _mirrors = []; // CUDA graphs: the device side of each host buffer
    private int _capacity; // batch x seq the buffers hold

    private int _batch;
    private int _seq;

    public ModelRunner(ModelPackage package)
        : this(package, rebindInputsEachPass: package.ExecutionProvider == ExecutionProvider.Cuda)
    {
    }

    /// <param name="package">The loaded package.</param>
    /// <param name="rebindInputsEachPass">
    /// Bind the inputs again before every pass. Needed on CUDA: binding a CPU value copies it to the device
    /// once, so later writes to our buffers would not be seen (the CPU provider reads them in place).
    /// </param>
    internal ModelRunner(ModelPackage package, bool rebindInputsEachPass)
    {
        ModelOptions options = package.Options;
        bool cuda = package.ExecutionProvider == ExecutionProvider.Cuda;
        _graphs = cuda && options.CudaGraphs;
        _rebindInputs = rebindInputsEachPass && !_graphs;
        _denoiser = package.Denoiser;
        _editHead = package.EditHead;
        _vocab = package.Manifest.VocabSize;
        _hidden = package.Manifest.HiddenSize;
        _half = package.Manifest.DType == "float16";
        _floatType = _half ? TensorElementType.Float16 : TensorElementType.Float;
        _topK = package.Manifest.DenoiserTopK;
        _editArgmax = package.Manifest.EditHeadArgmax;
        _specialIds = [.. package.Manifest.TopKSpecialIds];
        LogSumExpIsRest = package.TopKLogSumExpIsRest;
        _specials = _specialIds.Length;
        _bucket = Math.Max(1, options.EffectiveShapeBucket(package.ExecutionProvider));
        _maxSeq = package.Manifest.MaxSequenceLength;
        if (!cuda)
        {
            _deviceAllocator = OrtAllocator.DefaultInstance;
            return;
        }
        try
        {
            _deviceInfo = new OrtMemoryInfo(OrtMemoryInfo.allocatorCUDA, OrtAllocatorType.DeviceAllocator, options.CudaDeviceId, OrtMemType.Default);
            _deviceAllocator = new OrtAllocator(_denoiser, _deviceInfo);
            _ownsDeviceAllocator = true;
            if (options.CudaPinnedHostMemory)
            {
                _pinnedInfo = new OrtMemoryInfo(OrtMemoryInfo.allocatorCUDA_PINNED, OrtAllocatorType.DeviceAllocator, options.CudaDeviceId, OrtMemType.CpuOutput);
                _pinnedAllocator = new OrtAllocator(_denoiser, _pinnedInfo);
            }
        }
        catch (OnnxRuntimeException e)
        {
            if (_ownsDeviceAllocator)
            {
                _deviceAllocator!.Dispose();
            }
            _deviceInfo?.Dispose();
            _pinnedInfo?.Dispose();
            throw new InvalidOperationException(
                $"The CUDA session of {package.Manifest.Name} has no allocator for CUDA device {options.CudaDeviceId} memory{(options.CudaPinnedHostMemory ? " or its page-locked host memory (set CudaPinnedHostMemory off to use pinned managed arrays)" : "")}: {e.Message}", e);
        }
    }

    /// <summary>Stopwatch ticks spent inside ONNX Runtime since creation.</summary>
    public long OrtTicks { get; private set; }

    /// <summary>Rows of the current shape (with buckets, rows past the packed ones are padding).</summary>
    public int Batch => _batch;

    /// <summary>Positions per row of the current shape.</summary>
    public int Seq => _seq;

    public int Vocab => _vocab;

    public bool HasEditHead => _editHead is not null;

    /// <summary>The length multiple of the shape buckets; 1 when off.</summary>
    public int ShapeBucket => _bucket;

    /// <summary>Shapes bound since creation (a shape bound again after the buffers grew counts again).</summary>
    public int ShapeBindings { get; private set; }

    /// <summary>Whether the host buffers are page-locked (CUDA with the CudaPinned allocator).</summary>
    public bool HostMemoryPageLocked => _ids.PageLocked;

    /// <summary>K of the denoiser's top-K output form; 0 when it outputs full logits (<see cref="Logits"/>).</summary>
    public int TopK => _topK;

    /// <summary>Whether the edit head outputs its argmax form (<see cref="NextTokenIds"/>, <see cref="NextTokenProb"/>).</summary>
    public bool EditHeadArgmax => _editArgmax;

    /// <summary>Bytes per position that a pass brings from the denoiser to the host (its output form).</summary>
    public int DenoiserHostBytesPerPosition => _topK > 0
        ? (_topK * (sizeof(long) + sizeof(float))) + sizeof(float) + (_specials * sizeof(float))
        : _vocab * (_half ? 2 : 4);

    /// <summary>Bytes per position that an edit round brings from the edit head to the host (its output form).</summary>
    public int EditHostBytesPerPosition => _editHead is null ? 0 : _editArgmax ? sizeof(long) + sizeof(float) : _vocab * (_half ? 2 : 4);

    /// <summary>Top-K form: the K best ids per position, [batch, seq, K].</summary>
    public ReadOnlySpan<long> TopKIds => _topIds.Span[..(_batch * _seq * _topK)];

    /// <summary>Top-K form: their logits, [batch, seq, K].</summary>
    public ReadOnlySpan<float> TopKLogits => _topLogits.Span[..(_batch * _seq * _topK)];

    /// <summary>Top-K form: whether <see cref="LogSumExp"/> covers the tokens outside the top K (else the whole row).</summary>
    public bool LogSumExpIsRest { get; }

    /// <summary>Top-K form: the log-sum-exp of each position's logits (see <see cref="LogSumExpIsRest"/>), [batch, seq].</summary>
    public ReadOnlySpan<float> LogSumExp => _lse.Span[..(_batch * _seq)];

    /// <summary>Top-K form: the special ids whose logits <see cref="SpecialLogits"/> holds, in that order.</summary>
    public ReadOnlySpan<int> TopKSpecialIds => _specialIds;

    /// <summary>Top-K form: the logits of the manifest's special ids, [batch, seq, specials].</summary>
    public ReadOnlySpan<float> SpecialLogits => _specialLogits.Span[..(_batch * _seq * _specials)];

    /// <summary>Input ids of the current shape, row-major [batch, seq].</summary>
    public Span<long> InputIds => _ids.Span[..(_batch * _seq)];

    /// <summary>Attention mask of the current shape, row-major [batch, seq].</summary>
    public Span<long> AttentionMask => _mask.Span[..(_batch * _seq)];

    /// <summary>Logits of the last run, row-major [batch, seq, vocab] (full form).</summary>
    public ReadOnlySpan<float> Logits => _logits.Span[..(_batch * _seq * (_topK > 0 ? 0 : _vocab))];

    /// <summary>Next-token logits of the last run with the edit head, row-major [batch, seq, vocab] (full form).</summary>
    public ReadOnlySpan<float> NextLogits => _next.Span[..(_batch * _seq * (_editArgmax ? 0 : _vocab))];

    /// <summary>Argmax form: the next-token head's argmax per position of the last edit run, [batch, seq].</summary>
    public ReadOnlySpan<long> NextTokenIds => _nextIds.Span[..(_editArgmax ? _batch * _seq : 0)];

    /// <summary>Argmax form: its softmax probability, [batch, seq].</summary>
    public ReadOnlySpan<float> NextTokenProb => _nextProb.Span[..(_editArgmax ? _batch * _seq : 0)];

    /// <summary>The bucketed length of a pass over rows of at most <paramref name="seq"/> positions.</summary>
    internal static int BucketLength(int seq, int bucket, int maxSeq)
    {
        if (bucket <= 1)
        {
            return seq;
        }
        long up = ((long)seq + bucket - 1) / bucket * bucket;
        return (int)Math.Max(seq, Math.Min(up, maxSeq));
    }

    /// <summary>The bucketed batch: 1, 2, 4, 8, then multiples of 8.</summary>
    internal static int BucketBatch(int batch) => batch switch
    {
        <= 1 => 1,
        <= 2 => 2,
        <= 4 => 4,
        _ => (int)(((long)batch + 7) / 8 * 8),
    };

    /// <summary>
    /// The shape a pass over <paramref name="batch"/> rows of at most <paramref name="seq"/> positions is
    /// bound at: padded to the shape buckets when they are on (<see cref="ModelOptions.ShapeBucket"/>), else
    /// exactly that.
    /// </summary>
    public (int Batch, int Seq) Bucketed(int batch, int seq) =>
        _bucket > 1 ? (BucketBatch(batch), BucketLength(seq, _bucket, _maxSeq)) : (batch, seq);

    /// <summary>Sets the shape of the next run (see <see cref="Bucketed"/>), growing the buffers if needed.</summary>
    public void SetShape(int batch, int seq)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batch);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(seq);
        int tokens = checked(batch * seq);
        if ((long)tokens * Math.Max(_vocab, _hidden) > Array.MaxLength)
        {
            throw new InvalidOperationException(
                $"A batch of {batch} x {seq} tokens needs more than {Array.MaxLength} logits; use smaller batches.");
        }
        if (tokens > _capacity)
        {
            Grow(tokens);
        }
        if (batch != _batch || seq != _seq || _current is null)
        {
            _batch = batch;
            _seq = seq;
            long key = ((long)batch << 32) | (uint)seq;
            if (!_shapes.TryGetValue(key, out _current))
            {
                if (_shapes.Count == MaxCachedShapes)
                {
                    DisposeShapes();
                }
                _current = BindShape();
                _shapes.Add(key, _current);
            }
        }
    }

    private void Grow(int tokens)
    {
        DisposeShapes(); // they point into the old buffers
        DisposeBuffers();
        // Some headroom: edit rounds change the sequence length by a few tokens per round.
        int cap = (int)Math.Min(Array.MaxLength / Math.Max(_vocab, _hidden), tokens + (tokens / 8) + 8);
        OrtAllocator? pinned = _pinnedAllocator;
        _ids = new HostBuffer<long>(cap, TensorElementType.Int64, pinned);
        _mask = new HostBuffer<long>(cap, TensorElementType.Int64, pinned);
        int v = checked(cap * _vocab);
        if (_topK > 0)
        {
            // The point of the top-K form: no vocabulary-wide denoiser buffer at all.
            _topIds = new HostBuffer<long>(cap * _topK, TensorElementType.Int64, pinned);
            _topLogits = new HostBuffer<float>(cap * _topK, TensorElementType.Float, pinned);
            _lse = new HostBuffer<float>(cap, TensorElementType.Float, pinned);
            _specialLogits = new HostBuffer<float>(cap * _specials, TensorElementType.Float, pinned);
        }
        else
        {
            (_logits, _logits16) = FullRows(v, pinned);
        }
        if (_editHead is not null)
        {
            _hiddenStates = new DeviceBuffer(_deviceAllocator, _floatType, _half ? 2 : 4, checked(cap * _hidden), "hidden states");
            if (_editArgmax)
            {
                _nextIds = new HostBuffer<long>(cap, TensorElementType.Int64, pinned);
                _nextProb = new HostBuffer<float>(cap, TensorElementType.Float, pinned);
            }
            else
            {
                (_next, _next16) = FullRows(v, pinned);
            }
        }
        if (_graphs)
        {
            Mirror(_ids);
            Mirror(_mask);
            Mirror(_topIds);
            Mirror(_topLogits);
            Mirror(_lse);
            Mirror(_specialLogits);
            if (_half)
            {
                Mirror(_logits16);
                Mirror(_next16);
            }
            else
            {
                Mirror(_logits);
                Mirror(_next);
            }
            Mirror(_nextIds);
            Mirror(_nextProb);
        }
        _capacity = cap;
    }

    /// <summary>A full-row output: float32 rows bound directly, or float16 staging plus the widened rows.</summary>
    private (HostBuffer<float> Rows, HostBuffer<Float16> Staging) FullRows(int length, OrtAllocator? pinned) => _half
        ? (new HostBuffer<float>(length, TensorElementType.Float, null), new HostBuffer<Float16>(length, TensorElementType.Float16, pinned))
        : (new HostBuffer<float>(length, TensorElementType.Float, pinned), new HostBuffer<Float16>());

    private void Mirror<T>(HostBuffer<T> host)
        where T : unmanaged
    {
        if (host.Length > 0)
        {
            _mirrors[host] = new DeviceBuffer(_deviceAllocator, ElementType<T>(), System.Runtime.CompilerServices.Unsafe.SizeOf<T>(), host.Length, "CUDA graph buffers");
        }
    }

    private static TensorElementType ElementType<T>() =>
        typeof(T) == typeof(long) ? TensorElementType.Int64
        : typeof(T) == typeof(Float16) ? TensorElementType.Float16
        : TensorElementType.Float;

    /// <summary>OrtValues over the buffers for the current shape, bound as each kind of pass needs them.</summary>
    private ShapeBinding BindShape()
    {
        ShapeBindings++;
        int n = _batch * _seq;
        long[] tokenShape = [_batch, _seq];
        long[] vocabShape = [_batch, _seq, _vocab];
        long[] hiddenShape = [_batch, _seq, _hidden];
        var shape = new ShapeBinding(_denoiser, _editHead, _graphs ? _nextGraphId++ : -1);
        OrtIoBinding den = shape.Denoiser;
        shape.Ids = In(shape, _ids, tokenShape, n);
        shape.Mask = In(shape, _mask, tokenShape, n);
        den.BindInput("input_ids", shape.Ids);
        den.BindInput("attention_mask", shape.Mask);
        if (_topK > 0)
        {
            long[] topShape = [_batch, _seq, _topK];
            den.BindOutput("topk_ids", Out(shape, _topIds, topShape, n * _topK, edit: false));
            den.BindOutput("topk_logits", Out(shape, _topLogits, topShape, n * _topK, edit: false));
            den.BindOutput(LogSumExpIsRest ? ModelPackage.TopKRestOutput : "logsumexp", Out(shape, _lse, tokenShape, n, edit: false));
            den.BindOutput("special_logits", Out(shape, _specialLogits, [_batch, _seq, _specials], n * _specials, edit: false));
        }
        else
        {
            den.BindOutput("logits", _half
                ? Out(shape, _logits16, vocabShape, n * _vocab, edit: false)
                : Out(shape, _logits, vocabShape, n * _vocab, edit: false));
        }
        if (shape.Edit is not null)
        {
            // One device buffer: the denoiser's output is the edit head's input. Bound for stage-1 passes too
            // (the graph computes it either way), so that ONNX Runtime allocates no output of its own.
            OrtValue hidden = shape.Keep(_hiddenStates!.View(hiddenShape, n * _hidden));
            den.BindOutput("hidden_states", hidden);
            shape.Edit.BindInput("hidden_states", hidden);
            if (_editArgmax)
            {
                shape.Edit.BindOutput("next_token_ids", Out(shape, _nextIds, tokenShape, n, edit: true));
                shape.Edit.BindOutput("next_token_prob", Out(shape, _nextProb, tokenShape, n, edit: true));
            }
            else
            {
                shape.Edit.BindOutput("next_token_logits", _half
                    ? Out(shape, _next16, vocabShape, n * _vocab, edit: true)
                    : Out(shape, _next, vocabShape, n * _vocab, edit: true));
            }
        }
        shape.Seal();
        return shape;
    }

    /// <summary>An input: the host view, or with CUDA graphs its device mirror (copied to before each pass).</summary>
    private OrtValue In<T>(ShapeBinding shape, HostBuffer<T> host, long[] dims, int count)
        where T : unmanaged
    {
        OrtValue hostView = shape.Keep(host.View(dims, count));
        if (!_graphs)
        {
            return hostView;
        }
        OrtValue device = shape.Keep(_mirrors[host].View(dims, count));
        shape.CopyIn(hostView, device);
        return device;
    }

    /// <summary>An output: the host view, or with CUDA graphs its device mirror (copied from after the run).</summary>
    private OrtValue Out<T>(ShapeBinding shape, HostBuffer<T> host, long[] dims, int count, bool edit)
        where T : unmanaged
    {
        OrtValue hostView = shape.Keep(host.View(dims, count));
        if (!_graphs)
        {
            return hostView;
        }
        OrtValue device = shape.Keep(_mirrors[host].View(dims, count));
        shape.CopyOut(device, hostView, edit);
        return device;
    }

    /// <summary>
    /// Arms cancellation for one generation: a cancelled token sets RunOptions.Terminate so that a pass in
    /// flight stops early. Dispose the registration when the generation ends.
    /// </summary>
    public CancellationTokenRegistration RegisterCancellation(CancellationToken ct)
    {
        // Reset before registering: an already-cancelled token sets the flag again at once.
        SetTerminate(false);
        return ct.CanBeCanceled ? ct.UnsafeRegister(static s => ((ModelRunner)s!).SetTerminate(true), this) : default;
    }

    private void SetTerminate(bool terminate)
    {
        _runOptions.Terminate = terminate;
        if (_current?.GraphRunOptions is { } graph)
        {
            graph.Terminate = terminate;
        }
    }

    /// <summary>Runs the denoiser, and the edit head when <paramref name="withEditHead"/>, on the current shape.</summary>
    public void Run(bool withEditHead, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        if (withEditHead && _editHead is null)
        {
            throw new InvalidOperationException("This model has no edit head.");
        }
        long start = Stopwatch.GetTimestamp();
        try
        {
            ShapeBinding shape = _current!;
            RunOptions runOptions = _runOptions;
            if (shape.GraphRunOptions is { } graph)
            {
                graph.Terminate = _runOptions.Terminate;
                runOptions = graph;
                OrtEnv.Instance().CopyTensors(shape.CopyInSource, shape.CopyInTarget, null);
            }
            else if (_rebindInputs)
            {
                shape.Denoiser.BindInput("input_ids", shape.Ids!);
                shape.Denoiser.BindInput("attention_mask", shape.Mask!);
            }
            _denoiser.RunWithBinding(runOptions, shape.Denoiser);
            if (shape.GraphRunOptions is not null)
            {
                OrtEnv.Instance().CopyTensors(shape.DenoiserCopySource, shape.DenoiserCopyTarget, null);
            }
            if (withEditHead)
            {
                ct.ThrowIfCancellationRequested();
                _editHead!.RunWithBinding(runOptions, shape.Edit!);
                if (shape.GraphRunOptions is not null)
                {
                    OrtEnv.Instance().CopyTensors(shape.EditCopySource, shape.EditCopyTarget, null);
                }
            }
        }
        catch (OnnxRuntimeException) when (ct.IsCancellationRequested)
        {
            // RunOptions.Terminate stopped the pass.
            throw new OperationCanceledException("The generation was cancelled.", ct);
        }
        finally
        {
            OrtTicks += Stopwatch.GetTimestamp() - start;
        }
        if (_half)
        {
            int nv = _batch * _seq * _vocab;
            if (_topK == 0)
            {
                TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<Float16, Half>(_logits16.Span[..nv]), _logits.Span[..nv]);
            }
            if (withEditHead && !_editArgmax)
            {
                TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<Float16, Half>(_next16.Span[..nv]), _next.Span[..nv]);
            }
        }
    }

    private void DisposeShapes()
    {
        foreach (ShapeBinding shape in _shapes.Values)
        {
            shape.Dispose();
        }
        _shapes.Clear();
        _current = null;
    }

    private void DisposeBuffers()
    {
        foreach (IDisposable b in (IDisposable[])[_ids, _mask, _logits, _logits16, _next, _next16, _nextIds, _nextProb,
            _topIds, _topLogits, _lse, _specialLogits])
        {
            b.Dispose();
        }
        _hiddenStates?.Dispose();
        _hiddenStates = null;
        foreach (DeviceBuffer mirror in _mirrors.Values)
        {
            mirror.Dispose();
        }
        _mirrors.Clear();
        _capacity = 0;
    }

    public void Dispose()
    {
        DisposeShapes();
        DisposeBuffers();
        _pinnedAllocator?.Dispose();
        if (_ownsDeviceAllocator)
        {
            _deviceAllocator.Dispose();
        }
        _deviceInfo?.Dispose();
        _pinnedInfo?.Dispose();
        _runOptions.Dispose();
    }

    /// <summary>The bindings of one bound shape and the OrtValues they point at (over the runner's buffers).</summary>
    private sealed class ShapeBinding : IDisposable
    {
        private readonly List<OrtValue> _values = new(8);
        private readonly List<OrtValue>[] _copies = [[], [], [], [], [], []]; // in src/dst, denoiser out src/dst, edit out src/dst

        public ShapeBinding(InferenceSession denoiser, InferenceSession? editHead, int graphId)
        {
            Denoiser = denoiser.CreateIoBinding();
            Edit = editHead?.CreateIoBinding();
            if (graphId >= 0)
            {
                GraphRunOptions = new RunOptions();
                GraphRunOptions.AddRunConfigEntry("gpu_graph_id", graphId.ToString(System.Globalization.CultureInfo.InvariantCulture));
            }
        }

        /// <summary>Every pass: inputs, the denoiser's outputs and (with an edit head) the hidden states.</summary>
        public OrtIoBinding Denoiser { get; }

        /// <summary>Edit rounds: the hidden states in, the next-token head's outputs.</summary>
        public OrtIoBinding? Edit { get; }

        /// <summary>CUDA graphs: the run options naming this shape's graph; null without graphs.</summary>
        public RunOptions? GraphRunOptions { get; }

        public OrtValue? Ids { get; set; }

        public OrtValue? Mask { get; set; }

        public OrtValue[] CopyInSource { get; private set; } = [];

        public OrtValue[] CopyInTarget { get; private set; } = [];

        public OrtValue[] DenoiserCopySource { get; private set; } = [];

        public OrtValue[] DenoiserCopyTarget { get; private set; } = [];

        public OrtValue[] EditCopySource { get; private set; } = [];

        public OrtValue[] EditCopyTarget { get; private set; } = [];

        public OrtValue Keep(OrtValue value)
        {
            _values.Add(value);
            return value;
        }

        public void CopyIn(OrtValue host, OrtValue device)
        {
            _copies[0].Add(host);
            _copies[1].Add(device);
        }

        public void CopyOut(OrtValue device, OrtValue host, bool edit)
        {
            _copies[edit ? 4 : 2].Add(device);
            _copies[edit ? 5 : 3].Add(host);
        }

        /// <summary>Freezes the copy lists into arrays, so that a pass reads them without allocating.</summary>
        public void Seal()
        {
            CopyInSource = [.. _copies[0]];
            CopyInTarget = [.. _copies[1]];
            DenoiserCopySource = [.. _copies[2]];
            DenoiserCopyTarget = [.. _copies[3]];
            EditCopySource = [.. _copies[4]];
            EditCopyTarget = [.. _copies[5]];
        }

        public void Dispose()
        {
            // Bindings first: none may outlive the values it points at.
            Denoiser.Dispose();
            Edit?.Dispose();
            GraphRunOptions?.Dispose();
            foreach (OrtValue value in _values)
            {
                value.Dispose();
            }
        }
    }
}
