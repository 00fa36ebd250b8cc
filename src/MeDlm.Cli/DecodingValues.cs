using MeDlm.Cli.Commands;
using MeDlm.Tokenization;

namespace MeDlm.Cli;

/// <summary>
/// One decoding setting: every decoding field of a <see cref="GenerationRequest"/> the tool can set, from the
/// flags of <see cref="DecodingSettings"/> or from a setting text such as
/// <c>algorithm=threshold,threshold=0.9,edit_steps=8</c> (<c>eval --setting</c>, <c>--sweep</c>). Both paths end in
/// <see cref="Validate"/>, the one range check of the tool; budgets and algorithms are read by the library's parsers.
/// </summary>
internal sealed record DecodingValues(
    DecodingAlgorithm? Algorithm = null, double? Budget = null, bool Auto = false, int? GenLength = null, int? MaskSteps = null,
    int? EditSteps = null, int? BlockLength = null, double? Threshold = null, double? EditThreshold = null, double? SwitchThreshold = null,
    double? Temperature = null, long Seed = 0, double Cfg = 0, double? TopP = null, int? TopK = null, double? AlgTemp = null,
    double? Eps = null, bool LogitsEosInf = false, bool ConfidenceEosEotInf = false)
{
    /// <summary>The keys of a setting text, in the order <see cref="Describe"/> writes them (flag = "--" + key with dashes).</summary>
    public static readonly string[] Keys =
    [
        "algorithm", "budget", "gen_length", "mask_steps", "edit_steps", "block_length", "threshold", "edit_threshold", "switch_threshold",
        "temperature", "seed", "cfg", "top_p", "top_k", "alg_temp", "eps", "logits_eos_inf", "confidence_eos_eot_inf",
    ];

    /// <summary>The setting with nothing set: the model's defaults.</summary>
    public static DecodingValues Defaults { get; } = new();

    /// <summary>Accepts the manifest names and their dashed spellings (low-confidence).</summary>
    public static bool TryParseAlgorithm(string text, out DecodingAlgorithm algorithm) =>
        DecodingAlgorithms.TryParse(text.Trim().Replace('-', '_'), out algorithm);

    private static string Name(string key, bool asFlags) => asFlags ? "--" + key.Replace('_', '-') : key;

    /// <summary>
    /// The range rules of every field, named as flags (<c>--edit-threshold</c>) or as setting keys
    /// (<c>edit_threshold</c>); null when all hold. The library checks the request again against the model.
    /// </summary>
    public string? Validate(bool asFlags)
    {
        string N(string key) => Name(key, asFlags);
        string G(double v) => v.ToString(CultureInfo.InvariantCulture);
        return GenLength is <= 0 ? $"{N("gen_length")} must be positive (got {GenLength})"
            : MaskSteps is <= 0 ? $"{N("mask_steps")} must be positive (got {MaskSteps})"
            : EditSteps is < 0 ? $"{N("edit_steps")} must be >= 0 (got {EditSteps})"
            : BlockLength is <= 0 ? $"{N("block_length")} must be positive (got {BlockLength})"
            : Temperature is { } t && !(t >= 0 && double.IsFinite(t)) ? $"{N("temperature")} must be a finite number >= 0 (got {G(t)})"
            : !(Cfg >= 0 && double.IsFinite(Cfg)) ? $"{N("cfg")} must be a finite number >= 0 (got {G(Cfg)})"
            : Threshold is { } tau && !(tau > 0 && tau <= 1) ? $"{N("threshold")} must be in (0, 1] (got {G(tau)})"
            : EditThreshold is { } et && !(et >= 0 && et <= 1) ? $"{N("edit_threshold")} must be in [0, 1] (got {G(et)})"
            : SwitchThreshold is { } st && !(st >= 0 && st <= 1) ? $"{N("switch_threshold")} must be in [0, 1] (got {G(st)})"
            : TopP is { } p && !(p > 0 && p <= 1) ? $"{N("top_p")} must be in (0, 1] (got {G(p)})"
            : TopK is < 0 ? $"{N("top_k")} must be >= 0 (got {TopK})"
            : AlgTemp is { } at && !(at >= 0 && double.IsFinite(at)) ? $"{N("alg_temp")} must be a finite number >= 0 (got {G(at)})"
            : Eps is { } e && !(e > 0 && e < 1) ? $"{N("eps")} must be in (0, 1) (got {G(e)})"
            : null;
    }

    /// <summary>
    /// Reads a setting text, <c>key=value</c> pairs separated by commas, over <paramref name="baseline"/> (the
    /// flags); keys are <see cref="Keys"/> (dashes allowed, <c>edit_rounds</c> for <c>edit_steps</c>). False with a
    /// one-line reason naming the key.
    /// </summary>
    public static bool TryParse(string text, DecodingValues baseline, out DecodingValues values, out string error)
    {
        ArgumentNullException.ThrowIfNull(text);
        var pairs = new List<(string Key, string? Value)>();
        foreach (string pair in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int eq = pair.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                values = baseline;
                error = $"'{pair}' is not key=value";
                return false;
            }
            pairs.Add((pair[..eq], pair[(eq + 1)..]));
        }
        if (pairs.Count == 0)
        {
            values = baseline;
            error = "the setting is empty (write key=value pairs such as algorithm=threshold,threshold=0.9)";
            return false;
        }
        return TryApply(baseline, pairs, asFlags: false, out values, out error);
    }

    /// <summary>
    /// The one reader of flags and setting keys: each (key, text) pair with a value is parsed over
    /// <paramref name="baseline"/> (budgets and algorithms by the library's parsers), then <see cref="Validate"/>.
    /// </summary>
    public static bool TryApply(DecodingValues baseline, IEnumerable<(string Key, string? Value)> pairs, bool asFlags, out DecodingValues values,
        out string error)
    {
        ArgumentNullException.ThrowIfNull(baseline);
        ArgumentNullException.ThrowIfNull(pairs);
        values = baseline;
        foreach ((string rawKey, string? value) in pairs)
        {
            if (value is null)
            {
                continue;
            }
            string key = rawKey.Trim().ToLowerInvariant().Replace('-', '_');
            key = key == "edit_rounds" ? "edit_steps" : key;
            if (!TrySet(values, key, value.Trim(), out values, out error))
            {
                error = Array.IndexOf(Keys, key) < 0 ? $"unknown key '{key}' (use {string.Join(", ", Keys)})"
                    : error.Length > 0 ? $"{Name(key, asFlags)}: {error}"
                    : $"{Name(key, asFlags)}: '{value.Trim()}' is not a valid value";
                return false;
            }
        }
        error = values.Validate(asFlags) ?? string.Empty;
        return error.Length == 0;
    }

    private static bool TrySet(DecodingValues v, string key, string text, out DecodingValues result, out string error)
    {
        result = v;
        error = string.Empty;
        bool ok = true;
        switch (key)
        {
            case "budget":
                ok = MeDlm.Decoding.Budget.TryParse(text, out double b, out bool auto, out error);
                result = v with { Budget = auto ? null : b, Auto = auto };
                return ok;
            case "algorithm":
                ok = TryParseAlgorithm(text, out DecodingAlgorithm a);
                result = v with { Algorithm = a };
                error = ok ? string.Empty : $"'{text}' is not one of {DecodingAlgorithms.NameList.Replace('_', '-')}";
                return ok;
            case "gen_length" or "mask_steps" or "edit_steps" or "block_length" or "top_k":
                int i = Int(text, ref ok);
                result = key switch
                {
                    "gen_length" => v with { GenLength = i }, "mask_steps" => v with { MaskSteps = i }, "edit_steps" => v with { EditSteps = i },
                    "block_length" => v with { BlockLength = i }, _ => v with { TopK = i },
                };
                return ok;
            case "temperature" or "cfg" or "threshold" or "edit_threshold" or "switch_threshold" or "top_p" or "alg_temp" or "eps":
                double d = Number(text, ref ok);
                result = key switch
                {
                    "temperature" => v with { Temperature = d }, "cfg" => v with { Cfg = d }, "threshold" => v with { Threshold = d },
                    "edit_threshold" => v with { EditThreshold = d }, "switch_threshold" => v with { SwitchThreshold = d },
                    "top_p" => v with { TopP = d }, "alg_temp" => v with { AlgTemp = d }, _ => v with { Eps = d },
                };
                return ok;
            case "seed":
                ok = long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out long seed);
                result = v with { Seed = seed };
                return ok;
            case "logits_eos_inf" or "confidence_eos_eot_inf":
                ok = bool.TryParse(text, out bool flag);
                result = key == "logits_eos_inf" ? v with { LogitsEosInf = flag } : v with { ConfidenceEosEotInf = flag };
                return ok;
            default:
                return false;
        }
    }

    private static int Int(string text, ref bool ok)
    {
        ok = int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int i);
        return i;
    }

    private static double Number(string text, ref bool ok)
    {
        ok = double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) && double.IsFinite(d);
        return d;
    }

    /// <summary>The fields that are set, as a setting text <see cref="TryParse"/> reads back ("" for the defaults).</summary>
    public string Describe()
    {
        var sb = new StringBuilder();
        void Add(string key, string? value)
        {
            if (value is not null)
            {
                sb.Append(sb.Length == 0 ? "" : ",").Append(key).Append('=').Append(value);
            }
        }
        string? D(double? d) => d?.ToString("R", CultureInfo.InvariantCulture);
        string? I(long? i) => i?.ToString(CultureInfo.InvariantCulture);
        Add("algorithm", Algorithm is { } a ? DecodingAlgorithms.Name(a) : null);
        Add("budget", Auto ? MeDlm.Decoding.Budget.Auto : D(Budget));
        Add("gen_length", I(GenLength));
        Add("mask_steps", I(MaskSteps));
        Add("edit_steps", I(EditSteps));
        Add("block_length", I(BlockLength));
        Add("threshold", D(Threshold));
        Add("edit_threshold", D(EditThreshold));
        Add("switch_threshold", D(SwitchThreshold));
        Add("temperature", D(Temperature));
        Add("seed", Seed != 0 ? I(Seed) : null);
        Add("cfg", Cfg != 0 ? D(Cfg) : null);
        Add("top_p", D(TopP));
        Add("top_k", I(TopK));
        Add("alg_temp", D(AlgTemp));
        Add("eps", D(Eps));
        Add("logits_eos_inf", LogitsEosInf ? "true" : null);
        Add("confidence_eos_eot_inf", ConfidenceEosEotInf ? "true" : null);
        return sb.ToString();
    }

    /// <summary>
    /// This setting as a manifest auto setting (<c>generation.auto</c>), with the <paramref name="resolved"/> algorithm
    /// (the plan's) when none is set; null when it sets a field an auto setting cannot hold (sampling, seed, Dream or EOS options, budget auto); G is not part of it.
    /// </summary>
    public AutoSetting? ToAuto(DecodingAlgorithm resolved)
    {
        bool other = Temperature is not null || Cfg != 0 || TopP is not null
            || TopK is not null || AlgTemp is not null || Eps is not null || Seed != 0 || LogitsEosInf || ConfidenceEosEotInf || Auto;
        return other ? null : new AutoSetting(Algorithm ?? resolved, Budget, BlockLength, Threshold, EditSteps, EditThreshold, SwitchThreshold, MaskSteps);
    }

    /// <summary>A request with this setting for a prompt given as text, messages or ids.</summary>
    public GenerationRequest Request(string? prompt = null, IReadOnlyList<ChatMessage>? messages = null, IReadOnlyList<int>? promptIds = null,
        bool raw = false) => new()
        {
            Prompt = prompt,
            RawPrompt = raw,
            Messages = messages,
            PromptTokenIds = promptIds,
            GenLength = GenLength,
            Budget = Budget,
            AutoBudget = Auto,
            MaskSteps = MaskSteps,
            EditSteps = EditSteps,
            Algorithm = Algorithm,
            BlockLength = BlockLength,
            Temperature = Temperature,
            CfgScale = Cfg,
            Threshold = Threshold,
            EditThreshold = EditThreshold,
            SwitchThreshold = SwitchThreshold,
            TopP = TopP,
            TopK = TopK,
            AlgTemp = AlgTemp,
            Eps = Eps,
            Seed = Seed,
            LogitsEosInf = LogitsEosInf,
            ConfidenceEosEotInf = ConfidenceEosEotInf,
        };
}
