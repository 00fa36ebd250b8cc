using System.Text.Json;
using MeDlm.Decoding;
using MeDlm.Tokenization;

namespace MeDlm.Model;

/// <summary>Special token ids of a model (manifest <c>special_tokens</c>).</summary>
/// <param name="Mask">The mask token that stage 1 replaces.</param>
/// <param name="Pad">Padding / end of text; dropped from drafts, never committed before real tokens.</param>
/// <param name="Delete">The edit head's DELETE token (-1 when the model has none).</param>
/// <param name="End">End of response (<c>&lt;|im_end|&gt;</c>; -1 when the model has none).</param>
/// <param name="Eos">End of sequence (usually the same id as <paramref name="Pad"/>).</param>
public sealed record SpecialTokens(int Mask, int Pad, int Delete, int End, int Eos);

/// <summary>Generation defaults of a model (manifest <c>generation</c>).</summary>
public sealed record GenerationDefaults(
    int GenLength,
    double Budget,
    double EditShare,
    DecodingAlgorithm Algorithm,
    int BlockLength,
    double Temperature,
    double Threshold)
{
    /// <summary>Dream top-p (1: off; <c>generation.top_p</c>).</summary>
    public double TopP { get; init; } = 1.0;

    /// <summary>Dream top-k (0: off; <c>generation.top_k</c>).</summary>
    public int TopK { get; init; }

    /// <summary>Dream alg_temp (0: greedy position selection; <c>generation.alg_temp</c>).</summary>
    public double AlgTemp { get; init; }

    /// <summary>Dream's schedule end point (<c>generation.eps</c>, default 1e-3).</summary>
    public double Eps { get; init; } = 1e-3;

    /// <summary>Edit rounds allowed, overriding the budget's edit share (<c>generation.edit_rounds</c>; null: the share).</summary>
    public int? EditRounds { get; init; }

    /// <summary>Confidence gate of the edit rounds (<c>generation.edit_threshold</c>, default 0: off).</summary>
    public double EditThreshold { get; init; }

    /// <summary>Early switch from stage 1 to the edit rounds (<c>generation.switch_threshold</c>, default 0: off).</summary>
    public double SwitchThreshold { get; init; }

    /// <summary>Mask steps replacing the budget's share (only from <c>generation.auto</c>'s <c>mask_steps</c>; null: the share).</summary>
    public int? MaskSteps { get; init; }

    /// <summary>The measured adaptive setting (<c>generation.auto</c>) that budget <c>auto</c> selects; null when the package has none.</summary>
    public AutoSetting? Auto { get; init; }

    /// <summary>
    /// The defaults a request with budget <c>auto</c> plans from (docs/DESIGN.md §2.11): these defaults with the
    /// auto setting's keys in place; its mask steps and edit rounds replace the manifest's even when absent (then the budget's share).
    /// </summary>
    /// <exception cref="InvalidOperationException">The package has no auto setting.</exception>
    public GenerationDefaults WithAuto()
    {
        AutoSetting a = Auto ?? throw new InvalidOperationException("The package has no generation.auto setting.");
        return this with
        {
            Algorithm = a.Algorithm,
            Budget = a.Budget ?? Budget,
            BlockLength = a.BlockLength ?? BlockLength,
            Threshold = a.Threshold ?? Threshold,
            MaskSteps = a.MaskSteps,
            EditRounds = a.EditRounds,
            EditThreshold = a.EditThreshold ?? EditThreshold,
            SwitchThreshold = a.SwitchThreshold ?? SwitchThreshold,
        };
    }
}

/// <summary>
/// A package's measured adaptive setting (manifest <c>generation.auto</c>, docs/DESIGN.md §2.11), written by
/// <c>medlm eval --write-auto</c>: a combination of existing decoding settings; null keys keep <c>generation</c>'s.
/// </summary>
/// <param name="Algorithm">The stage-1 algorithm (<c>algorithm</c>).</param>
/// <param name="Budget">Budget fraction (<c>budget</c>): the pass split for algorithms with fixed steps.</param>
/// <param name="BlockLength">Semi-autoregressive block length (<c>block_length</c>).</param>
/// <param name="Threshold">Confidence threshold of the threshold algorithm (<c>threshold</c>).</param>
/// <param name="EditRounds">Edit rounds cap (<c>edit_rounds</c>; null: the budget's share).</param>
/// <param name="MaskSteps">Stage-1 passes of the algorithms with fixed steps (<c>mask_steps</c>; null: the budget's share).</param>
/// <param name="EditThreshold">Edit confidence gate (<c>edit_threshold</c>).</param>
/// <param name="SwitchThreshold">Early switch (<c>switch_threshold</c>).</param>
public sealed record AutoSetting(DecodingAlgorithm Algorithm, double? Budget = null, int? BlockLength = null, double? Threshold = null,
    int? EditRounds = null, double? EditThreshold = null, double? SwitchThreshold = null, int? MaskSteps = null)
{
    /// <summary>The manifest keys of <c>generation.auto</c>, in the order they are written.</summary>
    public static readonly string[] Keys = ["algorithm", "budget", "mask_steps", "block_length", "threshold", "edit_rounds", "edit_threshold", "switch_threshold"];
}

/// <summary>
/// The parsed and validated <c>medlm.json</c> of a model package (docs/DESIGN.md §3.2). Only the runtime-relevant
/// fields are typed; the architecture config is kept as raw JSON in <see cref="ModelConfig"/>.
/// </summary>
public sealed class ModelManifest
{
    /// <summary>The only package format this runtime reads.</summary>
    public const string SupportedFormat = "medlm-package/1";

    /// <summary>File name of the manifest inside a package folder.</summary>
    public const string FileName = "medlm.json";

    internal ModelManifest(string path, string name, string architecture, int vocabSize, int hiddenSize,
        int maxSequenceLength, bool shiftedLogits, string dtype, SpecialTokens specialTokens, ChatTemplate chatTemplate,
        string denoiserFile, string? editHeadFile, GenerationDefaults generation, JsonElement? modelConfig,
        int denoiserTopK = 0, int[]? topKSpecialIds = null, bool editHeadArgmax = false)
    {
        DenoiserTopK = denoiserTopK;
        EditHeadArgmax = editHeadArgmax;
        TopKSpecialIds = topKSpecialIds ?? [];
        Path = path;
        Name = name;
        Architecture = architecture;
        VocabSize = vocabSize;
        HiddenSize = hiddenSize;
        MaxSequenceLength = maxSequenceLength;
        ShiftedLogits = shiftedLogits;
        DType = dtype;
        SpecialTokens = specialTokens;
        ChatTemplate = chatTemplate;
        DenoiserFile = denoiserFile;
        EditHeadFile = editHeadFile;
        Generation = generation;
        ModelConfig = modelConfig;
    }

    /// <summary>Full path of the manifest file.</summary>
    public string Path { get; }

    /// <summary>Model name.</summary>
    public string Name { get; }

    /// <summary><c>medlm</c> (with edit head) or <c>llada</c> (stage 1 only).</summary>
    public string Architecture { get; }

    /// <summary>Logits width of both heads.</summary>
    public int VocabSize { get; }

    /// <summary>Width of <c>hidden_states</c>.</summary>
    public int HiddenSize { get; }

    /// <summary>Longest sequence (prompt + response) the model takes.</summary>
    public int MaxSequenceLength { get; }

    /// <summary>Whether position j uses the logits of j - 1 (Dream). Not supported by the decoders yet.</summary>
    public bool ShiftedLogits { get; }

    /// <summary><c>float32</c> or <c>float16</c>: the element type of the graphs' float outputs.</summary>
    public string DType { get; }

    /// <summary>Special token ids.</summary>
    public SpecialTokens SpecialTokens { get; }

    /// <summary>The chat template prompts are wrapped in.</summary>
    public ChatTemplate ChatTemplate { get; }

    /// <summary>Denoiser graph file name, relative to the package folder.</summary>
    public string DenoiserFile { get; }

    /// <summary>
    /// K when the denoiser reduces its logits in the graph (<c>graphs.denoiser.outputs</c> "topk": per position
    /// the top-K ids and logits, a log-sum-exp (of the tokens outside them, or of the whole row) and the logits
    /// of <see cref="TopKSpecialIds"/>);
    /// 0 when it outputs the full logits.
    /// </summary>
    public int DenoiserTopK { get; }

    /// <summary>The token ids whose logits a top-K denoiser outputs in <c>special_logits</c>, in that order.</summary>
    public IReadOnlyList<int> TopKSpecialIds { get; }

    /// <summary>
    /// Whether the edit head reduces its logits in the graph (<c>graphs.edit_head.outputs</c> "argmax": per
    /// position the next-token argmax <c>next_token_ids</c> and its probability <c>next_token_prob</c>);
    /// false when it outputs the full <c>next_token_logits</c> ("full", the default).
    /// </summary>
    public bool EditHeadArgmax { get; }

    /// <summary>Edit head graph file name, or null for a stage-1-only model.</summary>
    public string? EditHeadFile { get; }

    /// <summary>Generation defaults.</summary>
    public GenerationDefaults Generation { get; }

    /// <summary>The <c>model</c> section (architecture config) as raw JSON, if present.</summary>
    public JsonElement? ModelConfig { get; }

    /// <summary>Reads and validates a manifest; every problem is a <see cref="ModelLoadException"/> naming the file.</summary>
    public static ModelManifest Read(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ModelLoadException(path, $"cannot be read ({e.Message})", e);
        }
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(bytes, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            throw new ModelLoadException(path, $"is not valid JSON ({e.Message})", e);
        }
        using (doc)
        {
            return Parse(doc.RootElement, path);
        }
    }

    private static ModelManifest Parse(JsonElement root, string path)
    {
        var r = new Reader(path);
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw r.Fail($"must hold a JSON object, found {root.ValueKind}");
        }
        string format = r.String(root, "format");
        if (format != SupportedFormat)
        {
            throw r.Fail($"format \"{format}\" is not supported (expected \"{SupportedFormat}\")");
        }
        string name = r.String(root, "name");
        string architecture = r.String(root, "architecture");
        if (architecture is not ("medlm" or "llada" or "dream"))
        {
            throw r.Fail($"architecture \"{architecture}\" is not supported (expected \"medlm\", \"llada\" or \"dream\")");
        }
        int vocab = r.PositiveInt(root, "vocab_size");
        int hidden = r.PositiveInt(root, "hidden_size");
        int maxSeq = r.PositiveInt(root, "max_sequence_length");
        bool shifted = r.Bool(root, "shifted_logits");
        bool dream = architecture == "dream";
        if (shifted != dream)
        {
            throw r.Fail(dream
                ? "architecture \"dream\" needs shifted_logits true (position j is predicted by the logits of j - 1)"
                : $"shifted_logits true is only supported for architecture \"dream\" (this package says \"{architecture}\")");
        }
        string dtype = r.String(root, "dtype");
        if (dtype is not ("float32" or "float16"))
        {
            throw r.Fail($"dtype \"{dtype}\" is not supported (expected \"float32\" or \"float16\")");
        }

        // Graphs first: whether an edit head exists decides which special tokens are required.
        JsonElement graphs = r.Object(root, "graphs");
        JsonElement den = r.Object(graphs, "denoiser", "graphs.");
        string denFile = r.FileName(den, "file", "graphs.denoiser.");
        string outputs = r.String(den, "outputs", "graphs.denoiser.");
        if (outputs is not ("full" or "topk"))
        {
            throw r.Fail($"graphs.denoiser.outputs \"{outputs}\" is not one of \"full\", \"topk\"");
        }
        string? editFile = null;
        bool editArgmax = false;
        if (graphs.TryGetProperty("edit_head", out JsonElement edit) && edit.ValueKind != JsonValueKind.Null)
        {
            if (edit.ValueKind != JsonValueKind.Object)
            {
                throw r.Fail($"graphs.edit_head must be an object, found {edit.ValueKind}");
            }
            editFile = r.FileName(edit, "file", "graphs.edit_head.");
            string editOutputs = r.OptionalString(edit, "outputs", "graphs.edit_head.") ?? "full";
            if (editOutputs is not ("full" or "argmax"))
            {
                throw r.Fail($"graphs.edit_head.outputs \"{editOutputs}\" is not one of \"full\", \"argmax\"");
            }
            editArgmax = editOutputs == "argmax";
        }
        if (architecture == "medlm" && editFile is null)
        {
            throw r.Fail("architecture \"medlm\" needs graphs.edit_head (use architecture \"llada\" for a stage-1-only model)");
        }
        if (architecture is "llada" or "dream" && editFile is not null)
        {
            throw r.Fail($"architecture \"{architecture}\" must not declare graphs.edit_head (use \"medlm\")");
        }
        if (dream && outputs == "topk")
        {
            throw r.Fail("architecture \"dream\" needs graphs.denoiser.outputs \"full\" (Dream's confidences and filters read whole rows)");
        }

        JsonElement st = r.Object(root, "special_tokens");
        int mask = r.TokenId(st, "mask", vocab, required: true);
        int pad = r.TokenId(st, "pad", vocab, required: true);
        bool needEdit = editFile is not null;
        int del = r.TokenId(st, "delete", vocab, required: needEdit);
        int end = r.TokenId(st, "end", vocab, required: needEdit);
        int eos = r.TokenId(st, "eos", vocab, required: false);
        if (eos < 0)
        {
            eos = pad;
        }
        if (mask == pad)
        {
            throw r.Fail($"special_tokens.mask and special_tokens.pad are the same id ({mask})");
        }
        if (needEdit && (del == mask || del == pad || end == mask))
        {
            throw r.Fail("special_tokens.delete and special_tokens.end must differ from mask and pad");
        }

        int topK = 0;
        int[] specialIds = [];
        if (outputs == "topk")
        {
            (topK, specialIds) = ReadTopK(r, den, vocab, needEdit ? [pad, eos, del, end] : [pad, eos, end]);
        }

        ChatTemplate template = ChatTemplate.FromManifest(root.TryGetProperty("chat_template", out JsonElement ct) ? ct : null, path);
        GenerationDefaults gen = ReadGeneration(r, root, maxSeq, needEdit, dream);
        if (topK > 0 && gen.Temperature > 0)
        {
            throw r.Fail($"generation.temperature {gen.Temperature} needs full logits, but graphs.denoiser.outputs is \"topk\" (greedy only)");
        }
        JsonElement? model = root.TryGetProperty("model", out JsonElement m) && m.ValueKind == JsonValueKind.Object ? m.Clone() : null;
        return new ModelManifest(path, name, architecture, vocab, hidden, maxSeq, shifted, dtype,
            new SpecialTokens(mask, pad, del, end, eos), template, denFile, editFile, gen, model, topK, specialIds, editArgmax);
    }

    /// <summary>
    /// The top-K form's K and special ids. The decoders ban and renormalise only special tokens, so their
    /// logits must be there; K above their count guarantees an unbanned candidate among the top K.
    /// </summary>
    private static (int TopK, int[] SpecialIds) ReadTopK(Reader r, JsonElement den, int vocab, int[] required)
    {
        const string P = "graphs.denoiser.";
        int k = r.PositiveInt(den, "topk", P);
        JsonElement list = r.Get(den, "special_ids", P);
        if (list.ValueKind != JsonValueKind.Array)
        {
            throw r.Fail($"{P}special_ids must be an array of token ids, found {list.ValueKind}");
        }
        var ids = new List<int>();
        foreach (JsonElement e in list.EnumerateArray())
        {
            if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt32(out int id) || id < 0 || id >= vocab)
            {
                throw r.Fail($"{P}special_ids holds {e.GetRawText()}, not a token id in 0..{vocab - 1}");
            }
            if (ids.Contains(id))
            {
                throw r.Fail($"{P}special_ids holds {id} twice");
            }
            ids.Add(id);
        }
        foreach (int id in required)
        {
            if (id >= 0 && !ids.Contains(id))
            {
                throw r.Fail($"{P}special_ids must hold the pad, eos, delete and end ids (decoding bans them); {id} is missing");
            }
        }
        if (k <= ids.Count || k > vocab)
        {
            throw r.Fail($"{P}topk {k} must be more than the {ids.Count} special ids and at most vocab_size {vocab}");
        }
        return (k, [.. ids]);
    }

    private static GenerationDefaults ReadGeneration(Reader r, JsonElement root, int maxSeq, bool hasEditHead, bool dream)
    {
        const string P = "generation.";
        JsonElement g = r.Object(root, "generation");
        int genLength = r.PositiveInt(g, "gen_length", P);
        if (genLength >= maxSeq)
        {
            throw r.Fail($"generation.gen_length {genLength} leaves no room for a prompt in max_sequence_length {maxSeq}");
        }
        double editShare = r.Number(g, "edit_share", P, hasEditHead ? 0.25 : 0.0);
        if (!(editShare >= 0 && editShare < 1))
        {
            throw r.Fail($"generation.edit_share {editShare} must be in [0, 1)");
        }
        DecodingAlgorithm algorithm = ReadAlgorithm(r, g, P, dream) ?? (dream ? DecodingAlgorithm.Entropy : DecodingAlgorithm.MeDlm);
        int block = ReadBlockLength(r, g, P, genLength) ?? genLength;
        double temperature = r.Number(g, "temperature", P, 0.0);
        if (!(temperature >= 0) || double.IsInfinity(temperature))
        {
            throw r.Fail($"generation.temperature {temperature} must be a finite number >= 0");
        }
        double topP = r.Number(g, "top_p", P, 1.0);
        if (!(topP > 0 && topP <= 1))
        {
            throw r.Fail($"generation.top_p {topP} must be in (0, 1]");
        }
        double topKValue = r.Number(g, "top_k", P, 0.0);
        if (!(topKValue >= 0 && topKValue <= int.MaxValue) || topKValue != Math.Floor(topKValue))
        {
            throw r.Fail($"generation.top_k {topKValue} must be a whole number >= 0 (0: off)");
        }
        double algTemp = r.Number(g, "alg_temp", P, 0.0);
        if (!(algTemp >= 0) || double.IsInfinity(algTemp))
        {
            throw r.Fail($"generation.alg_temp {algTemp} must be a finite number >= 0");
        }
        double eps = r.Number(g, "eps", P, 1e-3);
        if (!(eps > 0 && eps < 1))
        {
            throw r.Fail($"generation.eps {eps} must be in (0, 1)");
        }
        if (!dream && (topP < 1 || topKValue > 0 || algTemp > 0))
        {
            throw r.Fail("generation.top_p, top_k and alg_temp are Dream settings (architecture \"dream\")");
        }
        if (dream && block != genLength)
        {
            throw r.Fail($"generation.block_length {block} must equal gen_length {genLength}: Dream decodes one block");
        }
        AdaptiveKeys keys = ReadAdaptiveKeys(r, g, P, hasEditHead, dream, algorithm);
        AutoSetting? auto = null;
        if (g.TryGetProperty("auto", out JsonElement a) && a.ValueKind != JsonValueKind.Null)
        {
            auto = ReadAuto(r, g, genLength, hasEditHead, dream);
        }
        return new GenerationDefaults(genLength, keys.Budget ?? 1.0, editShare, algorithm, block, temperature, keys.Threshold ?? 0.9)
        {
            TopP = topP,
            TopK = (int)topKValue,
            AlgTemp = algTemp,
            Eps = eps,
            EditRounds = keys.EditRounds,
            EditThreshold = keys.EditThreshold ?? 0,
            SwitchThreshold = keys.SwitchThreshold ?? 0,
            Auto = auto,
        };
    }

    /// <summary>The keys that <c>generation</c> and <c>generation.auto</c> share, each null when absent.</summary>
    private readonly record struct AdaptiveKeys(double? Budget, double? Threshold, int? EditRounds, double? EditThreshold, double? SwitchThreshold);

    /// <summary>
    /// <c>generation.auto</c> (docs/DESIGN.md §2.11): an algorithm and the keys of <see cref="AdaptiveKeys"/>,
    /// <c>block_length</c> and <c>mask_steps</c>, checked by the same rules as <c>generation</c>'s own; any other key is an error.
    /// </summary>
    private static AutoSetting ReadAuto(Reader r, JsonElement g, int genLength, bool hasEditHead, bool dream)
    {
        const string P = "generation.auto.";
        JsonElement a = r.Object(g, "auto", "generation.");
        foreach (JsonProperty key in a.EnumerateObject())
        {
            if (Array.IndexOf(AutoSetting.Keys, key.Name) < 0)
            {
                throw r.Fail($"{P}{key.Name} is not an auto setting key (use {string.Join(", ", AutoSetting.Keys)})");
            }
        }
        DecodingAlgorithm algorithm = ReadAlgorithm(r, a, P, dream) ?? throw r.Fail($"{P}algorithm is missing");
        int? block = ReadBlockLength(r, a, P, genLength);
        AdaptiveKeys k = ReadAdaptiveKeys(r, a, P, hasEditHead, dream, algorithm);
        int? maskSteps = a.TryGetProperty("mask_steps", out JsonElement ms) && ms.ValueKind != JsonValueKind.Null ? r.PositiveInt(a, "mask_steps", P) : null;
        if (maskSteps > genLength)
        {
            throw r.Fail($"{P}mask_steps {maskSteps} exceeds generation.gen_length {genLength}");
        }
        return new AutoSetting(algorithm, k.Budget, block, k.Threshold, k.EditRounds, k.EditThreshold, k.SwitchThreshold, maskSteps);
    }

    private static DecodingAlgorithm? ReadAlgorithm(Reader r, JsonElement g, string P, bool dream)
    {
        if (r.OptionalString(g, "algorithm", P) is not { } algorithmName)
        {
            return null;
        }
        if (!DecodingAlgorithms.TryParse(algorithmName, out DecodingAlgorithm algorithm))
        {
            throw r.Fail($"{P}algorithm \"{algorithmName}\" is not one of {DecodingAlgorithms.NameList}");
        }
        if (DecodingAlgorithms.IsDream(algorithm) != dream)
        {
            throw r.Fail(dream
                ? $"{P}algorithm \"{algorithmName}\" does not decode a Dream package (use origin, maskgit_plus, topk_margin or entropy)"
                : $"{P}algorithm \"{algorithmName}\" is a Dream algorithm, which needs architecture \"dream\" (shifted logits)");
        }
        return algorithm;
    }

    private static int? ReadBlockLength(Reader r, JsonElement g, string P, int genLength)
    {
        if (!g.TryGetProperty("block_length", out JsonElement b) || b.ValueKind == JsonValueKind.Null)
        {
            return null;
        }
        int block = r.PositiveInt(g, "block_length", P);
        return genLength % block == 0 ? block : throw r.Fail($"{P}block_length {block} does not divide generation.gen_length {genLength}");
    }

    private static AdaptiveKeys ReadAdaptiveKeys(Reader r, JsonElement g, string P, bool hasEditHead, bool dream, DecodingAlgorithm algorithm)
    {
        double? budget = r.OptionalNumber(g, "budget", P, v => v > 0 && v <= 1, "must be in (0, 1]");
        double? threshold = r.OptionalNumber(g, "threshold", P, v => v > 0 && v <= 1, "must be in (0, 1]");
        double? rounds = r.OptionalNumber(g, "edit_rounds", P, v => v >= 0 && v <= int.MaxValue && v == Math.Floor(v), "must be a whole number >= 0");
        if (rounds > 0 && !hasEditHead)
        {
            throw r.Fail($"{P}edit_rounds {rounds} needs an edit head (graphs.edit_head)");
        }
        double? editThreshold = r.OptionalNumber(g, "edit_threshold", P, v => v >= 0 && v <= 1, "must be in [0, 1] (0: every edit applies)");
        if (editThreshold > 0 && !hasEditHead)
        {
            throw r.Fail($"{P}edit_threshold {editThreshold} gates edit rounds, which need an edit head (graphs.edit_head)");
        }
        double? switchThreshold = r.OptionalNumber(g, "switch_threshold", P, v => v >= 0 && v <= 1, "must be in [0, 1] (0: off)");
        if (switchThreshold > 0 && (dream || algorithm == DecodingAlgorithm.Random))
        {
            throw r.Fail($"{P}switch_threshold {switchThreshold} does not apply to algorithm \"{DecodingAlgorithms.Name(algorithm)}\" (its scores are not confidences)");
        }
        return new AdaptiveKeys(budget, threshold, (int?)rounds, editThreshold, switchThreshold);
    }

    /// <summary>Typed access to manifest values with uniform error messages.</summary>
    private readonly struct Reader(string path)
    {
        public ModelLoadException Fail(string message) => new(path, message);

        public JsonElement Get(JsonElement obj, string key, string prefix)
        {
            if (!obj.TryGetProperty(key, out JsonElement v) || v.ValueKind == JsonValueKind.Null)
            {
                throw Fail($"{prefix}{key} is missing");
            }
            return v;
        }

        public JsonElement Object(JsonElement obj, string key, string prefix = "")
        {
            JsonElement v = Get(obj, key, prefix);
            return v.ValueKind == JsonValueKind.Object ? v : throw Fail($"{prefix}{key} must be an object, found {v.ValueKind}");
        }

        public string String(JsonElement obj, string key, string prefix = "")
        {
            JsonElement v = Get(obj, key, prefix);
            return v.ValueKind == JsonValueKind.String ? v.GetString()! : throw Fail($"{prefix}{key} must be a string, found {v.ValueKind}");
        }

        public string? OptionalString(JsonElement obj, string key, string prefix)
            => obj.TryGetProperty(key, out JsonElement v) && v.ValueKind != JsonValueKind.Null ? String(obj, key, prefix) : null;

        public bool Bool(JsonElement obj, string key, string prefix = "")
        {
            JsonElement v = Get(obj, key, prefix);
            return v.ValueKind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                _ => throw Fail($"{prefix}{key} must be true or false, found {v.ValueKind}"),
            };
        }

        public int PositiveInt(JsonElement obj, string key, string prefix = "")
        {
            JsonElement v = Get(obj, key, prefix);
            if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out int i))
            {
                throw Fail($"{prefix}{key} must be an integer, found {Describe(v)}");
            }
            return i > 0 ? i : throw Fail($"{prefix}{key} must be positive, found {i}");
        }

        /// <summary>A number that must satisfy <paramref name="valid"/> (else "{key} {value} {rule}"); null when absent.</summary>
        public double? OptionalNumber(JsonElement obj, string key, string prefix, Func<double, bool> valid, string rule)
        {
            if (!obj.TryGetProperty(key, out JsonElement v) || v.ValueKind == JsonValueKind.Null)
            {
                return null;
            }
            double value = Number(obj, key, prefix, 0);
            return valid(value) ? value : throw Fail($"{prefix}{key} {value} {rule}");
        }

        public double Number(JsonElement obj, string key, string prefix, double fallback)
        {
            if (!obj.TryGetProperty(key, out JsonElement v) || v.ValueKind == JsonValueKind.Null)
            {
                return fallback;
            }
            return v.ValueKind == JsonValueKind.Number ? v.GetDouble() : throw Fail($"{prefix}{key} must be a number, found {Describe(v)}");
        }

        /// <summary>A token id in [0, vocab); -1 when absent and not required.</summary>
        public int TokenId(JsonElement obj, string key, int vocab, bool required)
        {
            if (!obj.TryGetProperty(key, out JsonElement v) || v.ValueKind == JsonValueKind.Null)
            {
                return required ? throw Fail($"special_tokens.{key} is missing") : -1;
            }
            if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt64(out long id))
            {
                throw Fail($"special_tokens.{key} must be an integer token id, found {Describe(v)}");
            }
            if (id < 0 || id >= vocab)
            {
                throw Fail($"special_tokens.{key} {id} is outside the vocabulary ({vocab})");
            }
            return (int)id;
        }

        /// <summary>A graph file name that stays inside the package folder.</summary>
        public string FileName(JsonElement obj, string key, string prefix)
        {
            string f = String(obj, key, prefix);
            if (f.Length == 0 || System.IO.Path.IsPathRooted(f) || f.Contains("..", StringComparison.Ordinal))
            {
                throw Fail($"{prefix}{key} \"{f}\" must be a file name inside the package folder");
            }
            return f;
        }

        private static string Describe(JsonElement v) => v.ValueKind is JsonValueKind.Number or JsonValueKind.String
            ? $"{v.ValueKind} {v.GetRawText()}"
            : v.ValueKind.ToString();
    }
}
