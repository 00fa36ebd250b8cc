using MeDlm.Decoding;
using MeDlm.Generation;
using MeDlm.Tokenization;

namespace MeDlm.Tests.Generation;

/// <summary>Invalid requests fail before any pass with an <see cref="ArgumentException"/> that says what is wrong.</summary>
public sealed class RequestValidationTests
{
    private static readonly int[] ShortPrompt = [591, 10, 20];

    public static TheoryData<string, GenerationRequest, string> InvalidRequests() => new()
    {
        { "no prompt", new GenerationRequest(), "Give exactly one of Prompt, Messages or PromptTokenIds (request gives 0)" },
        { "two prompts", new GenerationRequest { Prompt = "a", PromptTokenIds = ShortPrompt }, "Give exactly one of Prompt, Messages or PromptTokenIds (request gives 2)" },
        { "empty raw prompt", new GenerationRequest { Prompt = "", RawPrompt = true }, "The prompt is empty" },
        { "token outside vocab", new GenerationRequest { PromptTokenIds = [1, 600] }, "PromptTokenIds holds 600, outside the vocabulary (593)" },
        { "negative gen length", new GenerationRequest { PromptTokenIds = ShortPrompt, GenLength = -4 }, "GenLength must be positive (request has -4)" },
        { "prompt + gen over context", new GenerationRequest { PromptTokenIds = ShortPrompt, GenLength = 62 },
            "The model's maximum context length is 64 tokens, but the prompt has 3 tokens and GenLength is 62: 65 tokens" },
        { "block does not divide", new GenerationRequest { PromptTokenIds = ShortPrompt, BlockLength = 5 }, "GenLength 16 is not divisible by BlockLength 5" },
        { "steps do not divide blocks", new GenerationRequest { PromptTokenIds = ShortPrompt, BlockLength = 4, MaskSteps = 6, EditSteps = 0 },
            "MaskSteps 6 is not divisible by the number of blocks 4 (GenLength 16 / BlockLength 4)" },
        { "more steps than tokens", new GenerationRequest { PromptTokenIds = ShortPrompt, MaskSteps = 17 }, "MaskSteps 17 exceeds GenLength 16" },
        { "zero mask steps", new GenerationRequest { PromptTokenIds = ShortPrompt, MaskSteps = 0 }, "MaskSteps must be positive (request has 0)" },
        { "negative edit steps", new GenerationRequest { PromptTokenIds = ShortPrompt, EditSteps = -1 }, "EditSteps must not be negative (request has -1)" },
        { "budget above one", new GenerationRequest { PromptTokenIds = ShortPrompt, Budget = 1.5 }, "Budget must be in (0, 1] (request has 1.5)" },
        { "budget zero", new GenerationRequest { PromptTokenIds = ShortPrompt, Budget = 0 }, "Budget must be in (0, 1] (request has 0)" },
        { "negative temperature", new GenerationRequest { PromptTokenIds = ShortPrompt, Temperature = -0.5 }, "Temperature must be a finite number >= 0 (request has -0.5)" },
        { "negative cfg", new GenerationRequest { PromptTokenIds = ShortPrompt, CfgScale = -1 }, "CfgScale must be a finite number >= 0 (request has -1)" },
        { "threshold above one", new GenerationRequest { PromptTokenIds = ShortPrompt, Algorithm = DecodingAlgorithm.Threshold, Threshold = 2 }, "Threshold must be in (0, 1] (request has 2)" },
        { "edit threshold above one", new GenerationRequest { PromptTokenIds = ShortPrompt, EditThreshold = 1.5 }, "EditThreshold must be in [0, 1], 0 for every edit (request has 1.5)" },
        { "edit threshold NaN", new GenerationRequest { PromptTokenIds = ShortPrompt, EditThreshold = double.NaN }, "EditThreshold must be in [0, 1]" },
        { "negative switch threshold", new GenerationRequest { PromptTokenIds = ShortPrompt, SwitchThreshold = -0.1 }, "SwitchThreshold must be in [0, 1], 0 for off (request has -0.1)" },
        { "switch with random remasking", new GenerationRequest { PromptTokenIds = ShortPrompt, Algorithm = DecodingAlgorithm.Random, SwitchThreshold = 0.5 },
            "SwitchThreshold compares confidences, which algorithm random does not rank by" },
        { "cap over context", new GenerationRequest { PromptTokenIds = ShortPrompt, LengthCap = 65 }, "LengthCap 65 exceeds the model's max_sequence_length of 64" },
        { "unknown role", new GenerationRequest { Messages = [new ChatMessage("robot", "hi")] }, "role \"robot\"" },
    };

    [Theory]
    [MemberData(nameof(InvalidRequests))]
    public void Invalid_request_is_rejected_with_its_reason(string name, GenerationRequest request, string fragment)
    {
        using var generator = new Generator(TestModels.FixturePackage);
        var e = Assert.Throws<GenerationRequestException>(() => generator.Generate(request));
        Assert.True(e.Message.Contains(fragment, StringComparison.Ordinal), $"{name}: \"{e.Message}\" lacks \"{fragment}\"");
        // The property at fault is a real request property, so that hosts can report it under their own names.
        Assert.NotNull(typeof(GenerationRequest).GetProperty(e.Property));
        // Planning throws the same error without running anything.
        var planned = Assert.Throws<GenerationRequestException>(() => generator.Plan(request));
        Assert.Equal(e.Message, planned.Message);
        Assert.Equal(e.Property, planned.Property);
    }

    [Fact]
    public void Long_text_prompt_names_both_numbers()
    {
        using var generator = new Generator(TestModels.FixturePackage);
        string prompt = string.Concat(Enumerable.Repeat("write sum_gt(xs) with k = 9. ", 10));
        int tokens = TestModels.FixturePackage.Tokenizer.EncodeToIds(TestModels.FixturePackage.Manifest.ChatTemplate.ApplyPrompt(prompt)).Count;
        var e = Assert.Throws<GenerationRequestException>(() => generator.Generate(new GenerationRequest { Prompt = prompt }));
        Assert.Contains($"The model's maximum context length is 64 tokens, but the prompt has {tokens} tokens and GenLength is 16: {tokens + 16} tokens",
            e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Context_overflow_is_its_own_kind_of_error()
    {
        using var generator = new Generator(TestModels.FixturePackage);
        var e = Assert.Throws<GenerationRequestException>(() => generator.Plan(new GenerationRequest { PromptTokenIds = ShortPrompt, GenLength = 62 }));
        Assert.Equal(GenerationRequestError.ContextLengthExceeded, e.Error);
        Assert.Equal(nameof(GenerationRequest.GenLength), e.Property);
        var invalid = Assert.Throws<GenerationRequestException>(() => generator.Plan(new GenerationRequest { PromptTokenIds = ShortPrompt, Budget = 2 }));
        Assert.Equal(GenerationRequestError.InvalidValue, invalid.Error);
    }

    [Fact]
    public void A_plan_holds_the_resolved_settings_and_runs_like_its_request()
    {
        using var generator = new Generator(TestModels.FixturePackage);
        var request = new GenerationRequest { PromptTokenIds = ShortPrompt, Budget = 0.5 };
        GenerationPlan plan = generator.Plan(request);
        (int masks, int edits) = Budget.Split(16, 0.5, TestModels.FixturePackage.Manifest.Generation.EditShare);
        Assert.Equal(ShortPrompt, plan.PromptTokenIds);
        Assert.Equal(16, plan.GenLength);
        Assert.Equal(masks, plan.MaskSteps);
        Assert.Equal(edits, plan.EditRounds);
        Assert.Equal(masks + edits, plan.MaxForwardPasses);
        Assert.Equal(TestModels.FixturePackage.Manifest.MaxSequenceLength, plan.LengthCap);
        GenerationResult fromPlan = generator.Generate(plan);
        GenerationResult fromRequest = generator.Generate(request);
        Assert.Equal(fromRequest.TokenIds, fromPlan.TokenIds);
        Assert.Equal(fromRequest.Stats.TotalPasses, fromPlan.Stats.TotalPasses);

        GenerationPlan capped = generator.Plan(new GenerationRequest { PromptTokenIds = ShortPrompt, CapAtGenLength = true });
        Assert.Equal(ShortPrompt.Length + 16, capped.LengthCap);
    }

    [Fact]
    public void Invalid_request_in_a_batch_names_its_index()
    {
        using var generator = new Generator(TestModels.FixturePackage);
        var e = Assert.Throws<GenerationRequestException>(() => generator.GenerateBatch(
        [
            new GenerationRequest { PromptTokenIds = ShortPrompt },
            new GenerationRequest { PromptTokenIds = ShortPrompt, GenLength = 7, BlockLength = 2 },
        ]));
        Assert.Contains("GenLength 7 is not divisible by BlockLength 2 (request 1)", e.Message, StringComparison.Ordinal);
        Assert.Equal(1, e.RequestIndex);
        Assert.Equal(nameof(GenerationRequest.BlockLength), e.Property);
    }

    [Theory]
    [InlineData(48, 1.0, 36, 12)]
    [InlineData(48, 0.5, 18, 6)]
    [InlineData(48, 0.25, 9, 3)]
    [InlineData(48, 0.125, 4, 2)]
    [InlineData(512, 0.125, 48, 16)] // the ME-DLM default: 48 mask steps + 16 edit rounds
    [InlineData(512, 1.0, 384, 128)]
    [InlineData(5, 0.5, 2, 1)] // 2.5 rounds half up to 3 passes (not to even)
    [InlineData(1, 0.1, 1, 0)] // at least one mask step
    [InlineData(2, 1.0, 1, 1)]
    public void Budget_split_matches_the_reference(int genLength, double budget, int masks, int edits)
    {
        Assert.Equal((masks, edits), Budget.Split(genLength, budget));
    }

    [Fact]
    public void Budget_without_edit_share_gives_every_pass_to_stage_one()
    {
        Assert.Equal((24, 0), Budget.Split(48, 0.5, 0.0));
    }
}
