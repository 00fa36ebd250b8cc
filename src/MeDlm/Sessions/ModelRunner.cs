using System.Diagnostics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using MeDlm.Model;
using Microsoft.ML.OnnxRuntime;

namespace MeDlm.Sessions;

/// <summary>
/// Runs the denoiser (and the edit head) over a right-padded batch with buffers that live across passes:
/// the caller writes ids and the attention mask in place, ONNX Runtime writes the logits straight into
/// our arrays (OrtValues over pinned managed memory, no copies), and the kernels read them in place.
/// Buffers grow to the largest batch x seq seen and are then reused; each batch shape gets its OrtValues
/// and I/O bindings once and keeps them until the buffers grow, so a pass allocates nothing.
/// Not thread-safe: one per generator.
/// </summary>
/// <remarks>
/// Float16 packages: ONNX Runtime writes half-precision outputs into staging arrays that are widened to
/// float for the kernels; the hidden states stay half and go to the edit head as they are.
/// On CUDA the inputs are bound again before every pass (see the constructor). TODO(cuda): the hidden states still make a device -> host -> device round trip
/// between the two sessions. The next step: bind the denoiser's "hidden_states" output with
/// BindOutputToDevice(name, OrtMemoryInfo("Cuda", OrtDeviceAllocator, id, OrtMemTypeDefault)), take the
/// device OrtValue from GetOutputValues() after the run and bind it as the edit head's input; the logits
/// stay bound to our pinned host arrays. Not written yet because no GPU was available to test it.
/// </remarks>
internal sealed class ModelRunner : IDisposable
{
    private readonly InferenceSession _denoiser;
    private readonly InferenceSession? _editHead;
    private readonly int _vocab;
    private readonly int _hidden;
    private readonly bool _half;
    private readonly int _topK; // 0: the denoiser outputs full logits
    private readonly int _specials;
    private readonly int[] _specialIds;
    private readonly RunOptions _runOptions = new();
    private readonly bool _rebindInputs;

    // Inputs and outputs are bound once per shape and the bindings kept, so a pass marshals no names and
    // allocates nothing, also when edit rounds move the length back and forth between a few shapes.
    private const int MaxCachedShapes = 64;
    private readonly Dictionary<long, ShapeBinding> _shapes = [];
    private ShapeBinding? _current;

    private long[] _ids = [];
    private long[] _mask = [];
    private float[] _logits = [];
    private float[] _next = [];
    private float[] _hiddenStates = [];
    private Float16[] _logits16 = [];
    private Float16[] _next16 = [];
    private Float16[] _hidden16 = [];
    private long[] _topIds = [];
    private float[] _topLogits = [];
    private float[] _lse = [];
    private float[] _specialLogits = [];
    private int _capacity; // batch x seq the buffers hold

    // OrtValues over the buffers for the current shape.
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
        _rebindInputs = rebindInputsEachPass;
        _denoiser = package.Denoiser;
        _editHead = package.EditHead;
        _vocab = package.Manifest.VocabSize;
        _hidden = package.Manifest.HiddenSize;
        _half = package.Manifest.DType == "float16";
        _topK = package.Manifest.DenoiserTopK;
        _specialIds = [.. package.Manifest.TopKSpecialIds];
        LogSumExpIsRest = package.TopKLogSumExpIsRest;
        _specials = _specialIds.Length;
    }

    /// <summary>Stopwatch ticks spent inside ONNX Runtime since creation.</summary>
    public long OrtTicks { get; private set; }

    public int Batch => _batch;

    public int Seq => _seq;

    public int Vocab => _vocab;

    public bool HasEditHead => _editHead is not null;

    /// <summary>K of the denoiser's top-K output form; 0 when it outputs full logits (<see cref="Logits"/>).</summary>
    public int TopK => _topK;

    /// <summary>Top-K form: the K best ids per position, [batch, seq, K].</summary>
    public ReadOnlySpan<long> TopKIds => _topIds.AsSpan(0, _batch * _seq * _topK);

    /// <summary>Top-K form: their logits, [batch, seq, K].</summary>
    public ReadOnlySpan<float> TopKLogits => _topLogits.AsSpan(0, _batch * _seq * _topK);

    /// <summary>Top-K form: whether <see cref="LogSumExp"/> covers the tokens outside the top K (else the whole row).</summary>
    public bool LogSumExpIsRest { get; }

    /// <summary>Top-K form: the log-sum-exp of each position's logits (see <see cref="LogSumExpIsRest"/>), [batch, seq].</summary>
    public ReadOnlySpan<float> LogSumExp => _lse.AsSpan(0, _batch * _seq);

    /// <summary>Top-K form: the special ids whose logits <see cref="SpecialLogits"/> holds, in that order.</summary>
    public ReadOnlySpan<int> TopKSpecialIds => _specialIds;

    /// <summary>Top-K form: the logits of the manifest's special ids, [batch, seq, specials].</summary>
    public ReadOnlySpan<float> SpecialLogits => _specialLogits.AsSpan(0, _batch * _seq * _specials);

    /// <summary>Input ids of the current shape, row-major [batch, seq].</summary>
    public Span<long> InputIds => _ids.AsSpan(0, _batch * _seq);

    /// <summary>Attention mask of the current shape, row-major [batch, seq].</summary>
    public Span<long> AttentionMask => _mask.AsSpan(0, _batch * _seq);

    /// <summary>Logits of the last run, row-major [batch, seq, vocab].</summary>
    public ReadOnlySpan<float> Logits => _logits.AsSpan(0, _batch * _seq * _vocab);

    /// <summary>Next-token logits of the last run with the edit head, row-major [batch, seq, vocab].</summary>
    public ReadOnlySpan<float> NextLogits => _next.AsSpan(0, _batch * _seq * _vocab);

    /// <summary>Sets the shape of the next run, growing the buffers if needed.</summary>
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
        // Some headroom: edit rounds change the sequence length by a few tokens per round.
        int cap = (int)Math.Min(Array.MaxLength / Math.Max(_vocab, _hidden), tokens + (tokens / 8) + 8);
        _ids = GC.AllocateUninitializedArray<long>(cap, pinned: true);
        _mask = GC.AllocateUninitializedArray<long>(cap, pinned: true);
        long v = (long)cap * _vocab;
        long h = (long)cap * _hidden;
        if (_topK > 0)
        {
            // The point of the top-K form: no vocabulary-wide denoiser buffer at all.
            _topIds = GC.AllocateUninitializedArray<long>(cap * _topK, pinned: true);
            _topLogits = GC.AllocateUninitializedArray<float>(cap * _topK, pinned: true);
            _lse = GC.AllocateUninitializedArray<float>(cap, pinned: true);
            _specialLogits = GC.AllocateUninitializedArray<float>(cap * _specials, pinned: true);
        }
        else
        {
            _logits = GC.AllocateUninitializedArray<float>((int)v, pinned: true);
        }
        if (_editHead is not null)
        {
            _next = GC.AllocateUninitializedArray<float>((int)v, pinned: true);
            if (!_half)
            {
                _hiddenStates = GC.AllocateUninitializedArray<float>((int)h, pinned: true);
            }
        }
        if (_half)
        {
            _logits16 = _topK > 0 ? [] : GC.AllocateUninitializedArray<Float16>((int)v, pinned: true);
            if (_editHead is not null)
            {
                _next16 = GC.AllocateUninitializedArray<Float16>((int)v, pinned: true);
                _hidden16 = GC.AllocateUninitializedArray<Float16>((int)h, pinned: true);
            }
        }
        _capacity = cap;
    }

    /// <summary>OrtValues over the buffers for the current shape, bound as each kind of pass needs them.</summary>
    private ShapeBinding BindShape()
    {
        int n = _batch * _seq;
        long[] tokenShape = [_batch, _seq];
        long[] vocabShape = [_batch, _seq, _vocab];
        long[] hiddenShape = [_batch, _seq, _hidden];
        OrtMemoryInfo cpu = OrtMemoryInfo.DefaultInstance;
        var shape = new ShapeBinding(_denoiser, _editHead);
        OrtValue ids = shape.Ids = shape.Keep(OrtValue.CreateTensorValueFromMemory(cpu, _ids.AsMemory(0, n), tokenShape));
        OrtValue mask = shape.Mask = shape.Keep(OrtValue.CreateTensorValueFromMemory(cpu, _mask.AsMemory(0, n), tokenShape));
        int nv = n * _vocab;
        int nh = n * _hidden;
        foreach (OrtIoBinding binding in (OrtIoBinding[])[shape.LogitsOnly, shape.LogitsAndHidden])
        {
            binding.BindInput("input_ids", ids);
            binding.BindInput("attention_mask", mask);
        }
        if (_topK > 0)
        {
            long[] topShape = [_batch, _seq, _topK];
            OrtValue topIds = shape.Keep(OrtValue.CreateTensorValueFromMemory(cpu, _topIds.AsMemory(0, n * _topK), topShape));
            OrtValue topLogits = shape.Keep(OrtValue.CreateTensorValueFromMemory(cpu, _topLogits.AsMemory(0, n * _topK), topShape));
            OrtValue lse = shape.Keep(OrtValue.CreateTensorValueFromMemory(cpu, _lse.AsMemory(0, n), tokenShape));
            OrtValue special = shape.Keep(OrtValue.CreateTensorValueFromMemory(cpu, _specialLogits.AsMemory(0, n * _specials),
                new long[] { _batch, _seq, _specials }));
            foreach (OrtIoBinding binding in (OrtIoBinding[])[shape.LogitsOnly, shape.LogitsAndHidden])
            {
                binding.BindOutput("topk_ids", topIds);
                binding.BindOutput("topk_logits", topLogits);
                binding.BindOutput(LogSumExpIsRest ? ModelPackage.TopKRestOutput : "logsumexp", lse);
                binding.BindOutput("special_logits", special);
            }
        }
        else
        {
            OrtValue logits = shape.Keep(_half
                ? OrtValue.CreateTensorValueFromMemory(cpu, _logits16.AsMemory(0, nv), vocabShape)
                : OrtValue.CreateTensorValueFromMemory(cpu, _logits.AsMemory(0, nv), vocabShape));
            shape.LogitsOnly.BindOutput("logits", logits);
            shape.LogitsAndHidden.BindOutput("logits", logits);
        }
        if (shape.Edit is not null)
        {
            // The edit head reads the denoiser's hidden-state buffer in place.
            OrtValue hidden = shape.Keep(_half
                ? OrtValue.CreateTensorValueFromMemory(cpu, _hidden16.AsMemory(0, nh), hiddenShape)
                : OrtValue.CreateTensorValueFromMemory(cpu, _hiddenStates.AsMemory(0, nh), hiddenShape));
            OrtValue next = shape.Keep(_half
                ? OrtValue.CreateTensorValueFromMemory(cpu, _next16.AsMemory(0, nv), vocabShape)
                : OrtValue.CreateTensorValueFromMemory(cpu, _next.AsMemory(0, nv), vocabShape));
            shape.Hidden = hidden;
            shape.LogitsAndHidden.BindOutput("hidden_states", hidden);
            shape.Edit.BindInput("hidden_states", hidden);
            shape.Edit.BindOutput("next_token_logits", next);
        }
        return shape;
    }

    /// <summary>
    /// Arms cancellation for one generation: a cancelled token sets RunOptions.Terminate so that a pass in
    /// flight stops early. Dispose the registration when the generation ends.
    /// </summary>
    public CancellationTokenRegistration RegisterCancellation(CancellationToken ct)
    {
        // Reset before registering: an already-cancelled token sets the flag again at once.
        _runOptions.Terminate = false;
        return ct.CanBeCanceled ? ct.UnsafeRegister(static s => ((RunOptions)s!).Terminate = true, _runOptions) : default;
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
            OrtIoBinding denoiserBinding = withEditHead ? shape.LogitsAndHidden : shape.LogitsOnly;
            if (_rebindInputs)
            {
                denoiserBinding.BindInput("input_ids", shape.Ids!);
                denoiserBinding.BindInput("attention_mask", shape.Mask!);
            }
            _denoiser.RunWithBinding(_runOptions, denoiserBinding);
            if (withEditHead)
            {
                ct.ThrowIfCancellationRequested();
                if (_rebindInputs)
                {
                    // The hidden states this pass wrote, not those of the pass that bound them first.
                    shape.Edit!.BindInput("hidden_states", shape.Hidden!);
                }
                _editHead!.RunWithBinding(_runOptions, shape.Edit!);
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
                TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<Float16, Half>(_logits16.AsSpan(0, nv)), _logits.AsSpan(0, nv));
            }
            if (withEditHead)
            {
                TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<Float16, Half>(_next16.AsSpan(0, nv)), _next.AsSpan(0, nv));
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

    public void Dispose()
    {
        DisposeShapes();
        _runOptions.Dispose();
    }

    /// <summary>The bindings of one batch shape and the OrtValues they point at (over the runner's buffers).</summary>
    private sealed class ShapeBinding(InferenceSession denoiser, InferenceSession? editHead) : IDisposable
    {
        private readonly List<OrtValue> _values = new(4);

        /// <summary>Stage-1 passes: the denoiser's logits only.</summary>
        public OrtIoBinding LogitsOnly { get; } = denoiser.CreateIoBinding();

        /// <summary>Edit rounds: the logits and the hidden states that the edit head reads.</summary>
        public OrtIoBinding LogitsAndHidden { get; } = denoiser.CreateIoBinding();

        public OrtIoBinding? Edit { get; } = editHead?.CreateIoBinding();

        public OrtValue? Ids { get; set; }

        public OrtValue? Mask { get; set; }

        public OrtValue? Hidden { get; set; }

        public OrtValue Keep(OrtValue value)
        {
            _values.Add(value);
            return value;
        }

        public void Dispose()
        {
            // Bindings first: none may outlive the values it points at.
            LogitsOnly.Dispose();
            LogitsAndHidden.Dispose();
            Edit?.Dispose();
            foreach (OrtValue value in _values)
            {
                value.Dispose();
            }
        }
    }
}
