using Spectre.Console;

namespace MeDlm.Cli.Commands;

/// <summary>Every decoding setting of a <see cref="Generation.GenerationRequest"/> as a flag (generate, bench, eval), read into <see cref="Values"/>.</summary>
internal class DecodingSettings : ModelSettings
{
    [CommandOption("-g|--gen-length <N>")]
    [Description("Tokens to generate: masks appended after the prompt (default: the model's)")]
    public int? GenLength { get; set; }

    [CommandOption("-b|--budget <FRACTION>")]
    [Description("Forward passes as a fraction b of the generation length (round(G*b) in total): 1, 1/2, 0.25, 1/8 ...; or auto: the model's measured adaptive setting (generation.auto)")]
    public string? Budget { get; set; }

    [CommandOption("--mask-steps <N>")]
    [Description("Stage-1 (unmasking) passes; overrides the budget's share")]
    public int? MaskSteps { get; set; }

    [CommandOption("--edit-steps <N>")]
    [Description("Edit rounds allowed (0: stage 1 only); overrides the budget's share")]
    public int? EditSteps { get; set; }

    [CommandOption("-a|--algorithm <NAME>")]
    [Description("Stage-1 algorithm: medlm, low-confidence, random or threshold; Dream packages: origin, maskgit-plus, topk-margin or entropy (default: the model's)")]
    public string? Algorithm { get; set; }

    [CommandOption("--block-length <N>")]
    [Description("Semi-autoregressive block length; must divide the generation length")]
    public int? BlockLength { get; set; }

    [CommandOption("-t|--temperature <T>")]
    [Description("Gumbel-max sampling temperature of stage 1 (0: greedy)")]
    public double? Temperature { get; set; }

    [CommandOption("--cfg <SCALE>")]
    [Description("Classifier-free guidance scale (0: off)")]
    [DefaultValue(0.0)]
    public double Cfg { get; set; }

    [CommandOption("--threshold <TAU>")]
    [Description("Confidence threshold of the threshold algorithm")]
    public double? Threshold { get; set; }

    [CommandOption("--edit-threshold <P>")]
    [Description("Edit rounds apply a replace / delete / insert only where its head's probability is at least P, in [0, 1] (0: every edit)")]
    public double? EditThreshold { get; set; }

    [CommandOption("--switch-threshold <P>")]
    [Description("End stage 1 early, committing every remaining mask, once all of them have confidence at least P, in [0, 1] (0: off)")]
    public double? SwitchThreshold { get; set; }

    [CommandOption("--top-p <P>")]
    [Description("Dream packages: nucleus filter of the sampled distribution, in (0, 1] (1: off)")]
    public double? TopP { get; set; }

    [CommandOption("--top-k <K>")]
    [Description("Dream packages: keep the K most likely tokens (0: off)")]
    public int? TopK { get; set; }

    [CommandOption("--alg-temp <T>")]
    [Description("Dream packages: draw the positions to commit from softmax(confidence / T) (0: the most confident)")]
    public double? AlgTemp { get; set; }

    [CommandOption("--eps <EPS>")]
    [Description("Dream packages: end point of the timestep schedule linspace(1, eps, steps + 1), in (0, 1)")]
    public double? Eps { get; set; }

    [CommandOption("-s|--seed <N>")]
    [Description("Seed of the counter RNG (temperature, random remasking)")]
    [DefaultValue(0L)]
    public long Seed { get; set; }

    [CommandOption("--logits-eos-inf")]
    [Description("Never predict PAD/EOS in stage 1 (LLaDA logits_eos_inf)")]
    public bool LogitsEosInf { get; set; }

    [CommandOption("--confidence-eos-eot-inf")]
    [Description("PAD/EOS and END get zero confidence in stage 1 (LLaDA confidence_eos_eot_inf)")]
    public bool ConfidenceEosEotInf { get; set; }

    [CommandOption("--system <TEXT>")]
    [Description("A system message before the prompt")]
    public string? System { get; set; }

    [CommandOption("--raw")]
    [Description("Tokenize the prompt as it is, without the chat template")]
    public bool Raw { get; set; }

    [CommandOption("--json")]
    [Description("Print the result as one JSON object")]
    public bool Json { get; set; }

    /// <summary>The flags as one decoding setting (set by <see cref="Validate"/>).</summary>
    public DecodingValues Values { get; private set; } = DecodingValues.Defaults;

    public override ValidationResult Validate()
    {
        ValidationResult baseResult = base.Validate();
        if (!baseResult.Successful)
        {
            return baseResult;
        }
        // The flags go through the same reader as eval's setting keys: one parser, one set of range rules.
        (string, string?)[] flags =
        [
            ("algorithm", Algorithm), ("budget", Budget), ("gen_length", Text(GenLength)), ("mask_steps", Text(MaskSteps)),
            ("edit_steps", Text(EditSteps)), ("block_length", Text(BlockLength)), ("threshold", Text(Threshold)),
            ("edit_threshold", Text(EditThreshold)), ("switch_threshold", Text(SwitchThreshold)), ("temperature", Text(Temperature)),
            ("seed", Text(Seed)), ("cfg", Text(Cfg)), ("top_p", Text(TopP)), ("top_k", Text(TopK)), ("alg_temp", Text(AlgTemp)), ("eps", Text(Eps)),
            ("logits_eos_inf", LogitsEosInf ? "true" : null), ("confidence_eos_eot_inf", ConfidenceEosEotInf ? "true" : null),
        ];
        if (!DecodingValues.TryApply(DecodingValues.Defaults, flags, asFlags: true, out DecodingValues values, out string error))
        {
            return ValidationResult.Error(error);
        }
        Values = values;
        return Checks.Require(!(Raw && System is not null), "--raw and --system exclude each other (a system message needs the chat template)");
    }

    private static string? Text(double? value) => value?.ToString("R", CultureInfo.InvariantCulture);

    private static string? Text(long? value) => value?.ToString(CultureInfo.InvariantCulture);
}
