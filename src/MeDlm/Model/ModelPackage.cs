using MeDlm.Sessions;
using MeDlm.Tokenization;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace MeDlm.Model;

/// <summary>
/// A loaded model package (docs/DESIGN.md §3): manifest, tokenizer and the ONNX Runtime sessions of the denoiser
/// and the optional edit head. Load once and share; create <c>Generator</c>s over it.
/// Thread-safe for reading; disposing it while a generator runs is the caller's error.
/// </summary>
public sealed class ModelPackage : IDisposable
{
    private InferenceSession? _denoiser;
    private InferenceSession? _editHead;

    private ModelPackage(string folder, ModelManifest manifest, MeDlmTokenizer tokenizer, InferenceSession denoiser,
        InferenceSession? editHead, ExecutionProvider provider, ModelOptions options)
    {
        Options = options;
        Folder = folder;
        Manifest = manifest;
        Tokenizer = tokenizer;
        _denoiser = denoiser;
        _editHead = editHead;
        ExecutionProvider = provider;
    }

    /// <summary>The top-K form's log-sum-exp over the tokens outside the top K (the better-conditioned output).</summary>
    internal const string TopKRestOutput = "logsumexp_rest";

    /// <summary>
    /// Top-K form: the graph's log-sum-exp covers the tokens outside the top K (<c>logsumexp_rest</c>) rather
    /// than the whole row (<c>logsumexp</c>).
    /// </summary>
    internal bool TopKLogSumExpIsRest { get; init; }

    /// <summary>The options the package was loaded with (the runners read the shape buckets and CUDA settings).</summary>
    internal ModelOptions Options { get; }

    /// <summary>Full path of the package folder.</summary>
    public string Folder { get; }

    /// <summary>The validated manifest.</summary>
    public ModelManifest Manifest { get; }

    /// <summary>The tokenizer read from <c>tokenizer.json</c>.</summary>
    public MeDlmTokenizer Tokenizer { get; }

    /// <summary>The provider the sessions run on (never <see cref="Sessions.ExecutionProvider.Auto"/>).</summary>
    public ExecutionProvider ExecutionProvider { get; }

    /// <summary>Whether the package has an edit head (stage 2 available).</summary>
    public bool HasEditHead => _editHead is not null;

    internal InferenceSession Denoiser => _denoiser ?? throw new ObjectDisposedException(nameof(ModelPackage));

    internal InferenceSession? EditHead
    {
        get
        {
            ObjectDisposedException.ThrowIf(_denoiser is null, this);
            return _editHead;
        }
    }

    /// <summary>
    /// Reads and validates the package in <paramref name="folder"/> and creates its sessions. Every problem
    /// is one <see cref="ModelLoadException"/> whose message starts with the offending file; nothing stays
    /// loaded after a failure.
    /// </summary>
    public static ModelPackage Load(string folder, ModelOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(folder);
        options ??= new ModelOptions();
        options.Validate();
        string root = Path.GetFullPath(folder);
        if (!Directory.Exists(root))
        {
            throw new ModelLoadException(root, "model folder does not exist");
        }
        string manifestPath = Path.Combine(root, ModelManifest.FileName);
        if (!File.Exists(manifestPath))
        {
            throw new ModelLoadException(manifestPath, "is missing (not a model package folder?)");
        }
        ModelManifest manifest = ModelManifest.Read(manifestPath);
        MeDlmTokenizer tokenizer = LoadTokenizer(root, manifest);

        string denoiserPath = RequireFile(root, manifest.DenoiserFile);
        string? editPath = manifest.EditHeadFile is null ? null : RequireFile(root, manifest.EditHeadFile);
        TensorElementType floatType = manifest.DType == "float16" ? TensorElementType.Float16 : TensorElementType.Float;

        InferenceSession? denoiser = null;
        InferenceSession? editHead = null;
        try
        {
            denoiser = SessionFactory.Create(denoiserPath, options, options.ExecutionProvider, out ExecutionProvider used);
            var denOutputs = new List<TensorSpec>(5);
            if (manifest.DenoiserTopK > 0)
            {
                // The in-graph reductions run in float32 whatever the model's dtype.
                denOutputs.Add(new("topk_ids", TensorElementType.Int64, 3, manifest.DenoiserTopK, "topk"));
                denOutputs.Add(new("topk_logits", TensorElementType.Float, 3, manifest.DenoiserTopK, "topk"));
                // The log-sum-exp over the tokens outside the top K (our exporter), or over the whole row.
                denOutputs.Add(new(denoiser.OutputMetadata.ContainsKey(TopKRestOutput) ? TopKRestOutput : "logsumexp", TensorElementType.Float, 2, 0, ""));
                denOutputs.Add(new("special_logits", TensorElementType.Float, 3, manifest.TopKSpecialIds.Count, "special_ids"));
            }
            else
            {
                denOutputs.Add(new("logits", floatType, 3, manifest.VocabSize, "vocab"));
            }
            if (editPath is not null)
            {
                denOutputs.Add(new("hidden_states", floatType, 3, manifest.HiddenSize, "hidden"));
            }
            SessionFactory.CheckContract(denoiser, denoiserPath,
                [new("input_ids", TensorElementType.Int64, 2, 0, ""), new("attention_mask", TensorElementType.Int64, 2, 0, "")],
                [.. denOutputs]);
            if (editPath is not null)
            {
                // Same provider as the denoiser: the hidden states hand over between the two.
                editHead = SessionFactory.Create(editPath, options, used, out _);
                SessionFactory.CheckContract(editHead, editPath,
                    [new("hidden_states", floatType, 3, manifest.HiddenSize, "hidden")],
                    manifest.EditHeadArgmax
                        ? [new("next_token_ids", TensorElementType.Int64, 2, 0, ""), new("next_token_prob", TensorElementType.Float, 2, 0, "")]
                        : [new("next_token_logits", floatType, 3, manifest.VocabSize, "vocab")]);
            }
            if (used == ExecutionProvider.Cuda)
            {
                CheckOutputFormsOnCuda(manifest, options);
            }
            if (options.Logger is { } log)
            {
                LoadLog.Loaded(log, manifest.Name, root, used, manifest.Architecture, manifest.VocabSize, manifest.MaxSequenceLength);
            }
            return new ModelPackage(root, manifest, tokenizer, denoiser, editHead, used, options)
            {
                TopKLogSumExpIsRest = manifest.DenoiserTopK > 0 && denoiser.OutputMetadata.ContainsKey(TopKRestOutput),
            };
        }
        catch
        {
            editHead?.Dispose();
            denoiser?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// On CUDA every pass brings its outputs to the host: full-vocabulary rows are 2-4 x vocab bytes per
    /// position and head, the reduced forms a few dozen. A full-output package is refused when
    /// <see cref="ModelOptions.RequireReducedOutputsOnCuda"/> is set, else loaded with one warning.
    /// </summary>
    private static void CheckOutputFormsOnCuda(ModelManifest manifest, ModelOptions options)
    {
        var full = new List<string>(2);
        if (manifest.DenoiserTopK == 0)
        {
            full.Add("graphs.denoiser.outputs is \"full\" (re-export with --topk)");
        }
        if (manifest.EditHeadFile is not null && !manifest.EditHeadArgmax)
        {
            full.Add("graphs.edit_head.outputs is \"full\" (re-export with --edit-outputs argmax)");
        }
        if (full.Count == 0)
        {
            return;
        }
        string what = string.Join("; ", full);
        if (options.RequireReducedOutputsOnCuda)
        {
            throw new ModelLoadException(manifest.Path,
                $"full-vocabulary outputs on CUDA are refused (RequireReducedOutputsOnCuda): {what}");
        }
        if (options.Logger is { } log)
        {
            LoadLog.FullOutputsOnCuda(log, manifest.Name, what);
        }
    }

    private static MeDlmTokenizer LoadTokenizer(string root, ModelManifest manifest)
    {
        string path = Path.Combine(root, "tokenizer.json");
        if (!File.Exists(path))
        {
            throw new ModelLoadException(path, "is missing");
        }
        MeDlmTokenizer tokenizer;
        try
        {
            tokenizer = MeDlmTokenizer.Load(path);
        }
        catch (Exception e) when (e is not ModelLoadException and not OutOfMemoryException)
        {
            throw new ModelLoadException(path, $"cannot be read ({e.Message})", e);
        }
        if (tokenizer.VocabSize > manifest.VocabSize)
        {
            throw new ModelLoadException(path,
                $"has {tokenizer.VocabSize} tokens, more than the model's vocab_size {manifest.VocabSize} in {ModelManifest.FileName}");
        }
        SpecialTokens st = manifest.SpecialTokens;
        CheckSpecial(manifest, tokenizer, "mask", st.Mask);
        CheckSpecial(manifest, tokenizer, "pad", st.Pad);
        CheckSpecial(manifest, tokenizer, "delete", st.Delete);
        CheckSpecial(manifest, tokenizer, "end", st.End);
        CheckSpecial(manifest, tokenizer, "eos", st.Eos);
        return tokenizer;
    }

    private static void CheckSpecial(ModelManifest manifest, MeDlmTokenizer tokenizer, string key, int id)
    {
        if (id >= 0 && tokenizer.GetToken(id) is null)
        {
            throw new ModelLoadException(manifest.Path, $"special_tokens.{key} {id} is not a token of tokenizer.json ({tokenizer.VocabSize} tokens)");
        }
    }

    private static string RequireFile(string root, string name)
    {
        string path = Path.Combine(root, name);
        return File.Exists(path) ? path : throw new ModelLoadException(path, "is missing (named in medlm.json graphs)");
    }

    /// <summary>Releases the ONNX Runtime sessions.</summary>
    public void Dispose()
    {
        _editHead?.Dispose();
        _denoiser?.Dispose();
        _editHead = null;
        _denoiser = null;
    }
}
