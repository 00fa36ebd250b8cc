using System.Text.Json.Nodes;
using MeDlm.Decoding;
using MeDlm.Generation;
using MeDlm.Model;
using MeDlm.Sessions;
using MeDlm.Tests.Generation;
using Microsoft.Extensions.Logging;

namespace MeDlm.Tests.Model;

/// <summary>
/// Load-time validation: each broken package (a temp copy of tests/fixtures/packages/tiny-fixture with one
/// thing wrong) fails with one <see cref="ModelLoadException"/> naming the file and the problem.
/// </summary>
public sealed class ModelLoadTests
{
    /// <summary>How to break the package, the file the error must name, and a fragment of the message.</summary>
    public sealed record BrokenCase(string Name, Action<string> Break, string File, string Fragment)
    {
        public override string ToString() => Name;
    }

    private static void EditManifest(string dir, Action<JsonObject> edit)
    {
        string path = Path.Combine(dir, "medlm.json");
        var node = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        edit(node);
        File.WriteAllText(path, node.ToJsonString());
    }

    private static void UseGraph(string dir, string badGraph, string target) =>
        File.Copy(Path.Combine(TestModels.BadGraphsPath, badGraph), Path.Combine(dir, target), overwrite: true);

    private static readonly BrokenCase[] Cases =
    [
        new("missing manifest", d => File.Delete(Path.Combine(d, "medlm.json")), "medlm.json", "is missing"),
        new("manifest not JSON", d => File.WriteAllText(Path.Combine(d, "medlm.json"), "{ \"format\": "), "medlm.json", "is not valid JSON"),
        new("unknown format", d => EditManifest(d, m => m["format"] = "medlm-package/9"), "medlm.json",
            "format \"medlm-package/9\" is not supported"),
        new("missing vocab_size", d => EditManifest(d, m => m.Remove("vocab_size")), "medlm.json", "vocab_size is missing"),
        new("vocab_size not a number", d => EditManifest(d, m => m["vocab_size"] = "593"), "medlm.json", "vocab_size must be an integer"),
        new("mask outside vocab", d => EditManifest(d, m => m["special_tokens"]!["mask"] = 9999), "medlm.json",
            "special_tokens.mask 9999 is outside the vocabulary (593)"),
        new("missing delete token", d => EditManifest(d, m => m["special_tokens"]!.AsObject().Remove("delete")), "medlm.json",
            "special_tokens.delete is missing"),
        new("manifest vocab below the tokenizer", d => EditManifest(d, m =>
            {
                m["vocab_size"] = 590;
                m["special_tokens"]!["end"] = 586;
                m["special_tokens"]!["delete"] = 587;
            }), "tokenizer.json", "has 593 tokens, more than the model's vocab_size 590"),
        new("manifest vocab above the graph", d => EditManifest(d, m => m["vocab_size"] = 600), "denoiser.onnx",
            "output 'logits' has vocab dimension 593, but medlm.json says 600"),
        new("manifest hidden size wrong", d => EditManifest(d, m => m["hidden_size"] = 8), "denoiser.onnx",
            "output 'hidden_states' has hidden dimension 4, but medlm.json says 8"),
        new("gen_length fills the context", d => EditManifest(d, m => m["generation"]!["gen_length"] = 64), "medlm.json",
            "generation.gen_length 64 leaves no room for a prompt in max_sequence_length 64"),
        new("block_length does not divide", d => EditManifest(d, m => m["generation"]!["block_length"] = 5), "medlm.json",
            "generation.block_length 5 does not divide generation.gen_length 16"),
        new("unknown algorithm", d => EditManifest(d, m => m["generation"]!["algorithm"] = "beam"), "medlm.json",
            "generation.algorithm \"beam\" is not one of"),
        new("edit_threshold above 1", d => EditManifest(d, m => m["generation"]!["edit_threshold"] = 1.5), "medlm.json",
            "generation.edit_threshold 1.5 must be in [0, 1]"),
        new("edit_threshold not a number", d => EditManifest(d, m => m["generation"]!["edit_threshold"] = "high"), "medlm.json",
            "generation.edit_threshold must be a number"),
        new("negative switch_threshold", d => EditManifest(d, m => m["generation"]!["switch_threshold"] = -0.25), "medlm.json",
            "generation.switch_threshold -0.25 must be in [0, 1]"),
        new("switch_threshold with random remasking", d => EditManifest(d, m =>
            {
                m["generation"]!["algorithm"] = "random";
                m["generation"]!["switch_threshold"] = 0.5;
            }), "medlm.json", "generation.switch_threshold 0.5 does not apply to algorithm \"random\""),
        new("auto without an algorithm", d => EditManifest(d, m => m["generation"]!["auto"] = new JsonObject { ["threshold"] = 0.9 }), "medlm.json",
            "generation.auto.algorithm is missing"),
        new("auto with an unknown key", d => EditManifest(d, m => m["generation"]!["auto"] = new JsonObject { ["algorithm"] = "threshold", ["tau"] = 0.9 }),
            "medlm.json", "generation.auto.tau is not an auto setting key"),
        new("auto threshold above 1", d => EditManifest(d, m => m["generation"]!["auto"] = new JsonObject { ["algorithm"] = "threshold", ["threshold"] = 1.5 }),
            "medlm.json", "generation.auto.threshold 1.5 must be in (0, 1]"),
        new("auto switch with random remasking", d => EditManifest(d, m =>
                m["generation"]!["auto"] = new JsonObject { ["algorithm"] = "random", ["switch_threshold"] = 0.5 }),
            "medlm.json", "generation.auto.switch_threshold 0.5 does not apply to algorithm \"random\""),
        new("auto block length not dividing G", d => EditManifest(d, m => m["generation"]!["auto"] = new JsonObject { ["algorithm"] = "medlm", ["block_length"] = 5 }),
            "medlm.json", "generation.auto.block_length 5 does not divide generation.gen_length 16"),
        new("auto mask_steps above G", d => EditManifest(d, m => m["generation"]!["auto"] = new JsonObject { ["algorithm"] = "medlm", ["mask_steps"] = 17 }),
            "medlm.json", "generation.auto.mask_steps 17 exceeds generation.gen_length 16"),
        new("auto not an object", d => EditManifest(d, m => m["generation"]!["auto"] = "threshold"), "medlm.json",
            "generation.auto must be an object"),
        new("fractional edit_rounds", d => EditManifest(d, m => m["generation"]!["edit_rounds"] = 2.5), "medlm.json",
            "generation.edit_rounds 2.5 must be a whole number >= 0"),
        new("unknown output form", d => EditManifest(d, m => m["graphs"]!["denoiser"]!["outputs"] = "topp"), "medlm.json",
            "graphs.denoiser.outputs \"topp\" is not one of \"full\", \"topk\""),
        new("top-k without k", d => EditManifest(d, m => m["graphs"]!["denoiser"]!["outputs"] = "topk"), "medlm.json",
            "graphs.denoiser.topk is missing"),
        new("top-k without special ids", d => EditManifest(d, m =>
            {
                m["graphs"]!["denoiser"]!["outputs"] = "topk";
                m["graphs"]!["denoiser"]!["topk"] = 8;
            }), "medlm.json", "graphs.denoiser.special_ids is missing"),
        new("top-k special ids without delete", d => EditManifest(d, m =>
            {
                m["graphs"]!["denoiser"]!["outputs"] = "topk";
                m["graphs"]!["denoiser"]!["topk"] = 8;
                m["graphs"]!["denoiser"]!["special_ids"] = new JsonArray(589, 588, 592);
            }), "medlm.json", "special_ids must hold the pad, eos, delete and end ids (decoding bans them); 590 is missing"),
        new("top-k no larger than the special ids", d => EditManifest(d, m =>
            {
                m["graphs"]!["denoiser"]!["outputs"] = "topk";
                m["graphs"]!["denoiser"]!["topk"] = 4;
                m["graphs"]!["denoiser"]!["special_ids"] = new JsonArray(589, 588, 590, 592);
            }), "medlm.json", "graphs.denoiser.topk 4 must be more than the 4 special ids"),
        new("top-k with sampling defaults", d => EditManifest(d, m =>
            {
                m["graphs"]!["denoiser"]!["outputs"] = "topk";
                m["graphs"]!["denoiser"]!["topk"] = 8;
                m["graphs"]!["denoiser"]!["special_ids"] = new JsonArray(589, 588, 590, 592);
                m["generation"]!["temperature"] = 0.7;
            }), "medlm.json", "generation.temperature 0.7 needs full logits"),
        new("top-k manifest over a full graph", d => EditManifest(d, m =>
            {
                m["graphs"]!["denoiser"]!["outputs"] = "topk";
                m["graphs"]!["denoiser"]!["topk"] = 8;
                m["graphs"]!["denoiser"]!["special_ids"] = new JsonArray(589, 588, 590, 592);
            }), "denoiser.onnx", "missing output 'topk_ids' (the graph's outputs are 'logits', 'hidden_states')"),
        new("medlm without edit head", d => EditManifest(d, m => m["graphs"]!.AsObject().Remove("edit_head")), "medlm.json",
            "architecture \"medlm\" needs graphs.edit_head"),
        new("graph path escapes the folder", d => EditManifest(d, m => m["graphs"]!["denoiser"]!["file"] = "../denoiser.onnx"), "medlm.json",
            "must be a file name inside the package folder"),
        new("missing tokenizer", d => File.Delete(Path.Combine(d, "tokenizer.json")), "tokenizer.json", "is missing"),
        new("missing denoiser", d => File.Delete(Path.Combine(d, "denoiser.onnx")), "denoiser.onnx", "is missing"),
        new("missing edit head", d => File.Delete(Path.Combine(d, "edit_head.onnx")), "edit_head.onnx", "is missing"),
        new("denoiser not ONNX", d => UseGraph(d, "not_an_onnx_model.onnx", "denoiser.onnx"), "denoiser.onnx", "is not an ONNX model ("),
        new("edit head not ONNX", d => UseGraph(d, "not_an_onnx_model.onnx", "edit_head.onnx"), "edit_head.onnx", "is not an ONNX model ("),
        new("wrong input names", d => UseGraph(d, "denoiser_wrong_input_names.onnx", "denoiser.onnx"), "denoiser.onnx",
            "missing input 'input_ids' (the graph's inputs are 'ids', 'mask')"),
        new("missing attention_mask", d => UseGraph(d, "denoiser_missing_attention_mask.onnx", "denoiser.onnx"), "denoiser.onnx",
            "missing input 'attention_mask'"),
        new("extra input", d => UseGraph(d, "denoiser_extra_input.onnx", "denoiser.onnx"), "denoiser.onnx",
            "unexpected input 'position_ids'"),
        new("float input ids", d => UseGraph(d, "denoiser_float_input_ids.onnx", "denoiser.onnx"), "denoiser.onnx",
            "input 'input_ids' has element type float32, expected int64"),
        new("graph vocab differs", d => UseGraph(d, "denoiser_wrong_vocab.onnx", "denoiser.onnx"), "denoiser.onnx",
            "output 'logits' has vocab dimension 600, but medlm.json says 593"),
        new("graph hidden differs", d => UseGraph(d, "denoiser_wrong_hidden.onnx", "denoiser.onnx"), "denoiser.onnx",
            "output 'hidden_states' has hidden dimension 6, but medlm.json says 4"),
        new("rank-2 logits", d => UseGraph(d, "denoiser_rank2_logits.onnx", "denoiser.onnx"), "denoiser.onnx",
            "output 'logits' has rank 2, expected 3"),
        new("fixed batch", d => UseGraph(d, "denoiser_fixed_batch.onnx", "denoiser.onnx"), "denoiser.onnx",
            "input 'input_ids' has a fixed batch dimension (1)"),
        new("no hidden states", d => UseGraph(d, "denoiser_no_hidden_states.onnx", "denoiser.onnx"), "denoiser.onnx",
            "missing output 'hidden_states'"),
        new("edit head output name", d => UseGraph(d, "edit_head_wrong_output_name.onnx", "edit_head.onnx"), "edit_head.onnx",
            "missing output 'next_token_logits'"),
        new("edit head vocab", d => UseGraph(d, "edit_head_wrong_vocab.onnx", "edit_head.onnx"), "edit_head.onnx",
            "output 'next_token_logits' has vocab dimension 600, but medlm.json says 593"),
        new("unknown edit output form", d => EditManifest(d, m => m["graphs"]!["edit_head"]!["outputs"] = "top1"), "medlm.json",
            "graphs.edit_head.outputs \"top1\" is not one of \"full\", \"argmax\""),
        new("edit output form not a string", d => EditManifest(d, m => m["graphs"]!["edit_head"]!["outputs"] = 1), "medlm.json",
            "graphs.edit_head.outputs must be a string"),
        new("argmax declared, full graph", d => EditManifest(d, m => m["graphs"]!["edit_head"]!["outputs"] = "argmax"), "edit_head.onnx",
            "missing output 'next_token_ids'"),
        new("argmax ids not int64", d =>
            {
                UseGraph(d, "edit_head_argmax_float_ids.onnx", "edit_head.onnx");
                EditManifest(d, m => m["graphs"]!["edit_head"]!["outputs"] = "argmax");
            }, "edit_head.onnx", "output 'next_token_ids' has element type float32, expected int64"),
        new("argmax probability rank 3", d =>
            {
                UseGraph(d, "edit_head_argmax_rank3_prob.onnx", "edit_head.onnx");
                EditManifest(d, m => m["graphs"]!["edit_head"]!["outputs"] = "argmax");
            }, "edit_head.onnx", "output 'next_token_prob' has rank 3, expected 2"),
    ];

    public static TheoryData<BrokenCase> BrokenCases()
    {
        var data = new TheoryData<BrokenCase>();
        foreach (BrokenCase c in Cases)
        {
            data.Add(c);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(BrokenCases))]
    public void Broken_package_fails_with_one_clear_error(BrokenCase broken)
    {
        using var dir = new TempPackage();
        broken.Break(dir.Path);
        var e = Assert.Throws<ModelLoadException>(() => ModelPackage.Load(dir.Path));
        Assert.Equal(Path.Combine(dir.Path, broken.File), e.FilePath);
        Assert.StartsWith(Path.Combine(dir.Path, broken.File) + ": ", e.Message, StringComparison.Ordinal);
        Assert.Contains(broken.Fragment, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Missing_folder_is_named()
    {
        string missing = Path.Combine(Path.GetTempPath(), "medlm-no-such-folder-" + Guid.NewGuid().ToString("N"));
        var e = Assert.Throws<ModelLoadException>(() => ModelPackage.Load(missing));
        Assert.Equal(missing + ": model folder does not exist", e.Message);
    }

    [Fact]
    public void Valid_fixture_loads_with_its_manifest()
    {
        using var package = ModelPackage.Load(TestModels.FixturePackagePath);
        Assert.True(package.HasEditHead);
        Assert.Equal(ExecutionProvider.Cpu, package.ExecutionProvider);
        Assert.Equal("tiny-fixture", package.Manifest.Name);
        Assert.Equal(593, package.Manifest.VocabSize);
        Assert.Equal(new SpecialTokens(589, 588, 590, 592, 588), package.Manifest.SpecialTokens);
        Assert.Equal(16, package.Manifest.Generation.GenLength);
        Assert.Equal(64, package.Manifest.MaxSequenceLength);
    }

    [Fact]
    public void Adaptive_defaults_come_from_the_manifest()
    {
        using var dir = new TempPackage();
        EditManifest(dir.Path, m =>
        {
            m["generation"]!["algorithm"] = "threshold";
            m["generation"]!["edit_rounds"] = 5;
            m["generation"]!["edit_threshold"] = 0.8;
            m["generation"]!["switch_threshold"] = 0.6;
        });
        using var package = ModelPackage.Load(dir.Path);
        GenerationDefaults d = package.Manifest.Generation;
        Assert.Equal(5, d.EditRounds);
        Assert.Equal(0.8, d.EditThreshold);
        Assert.Equal(0.6, d.SwitchThreshold);
        using var generator = new Generator(package);
        int[] prompt = [591, 10, 20];
        GenerationPlan plan = generator.Plan(new GenerationRequest { PromptTokenIds = prompt });
        Assert.Equal(DecodingAlgorithm.Threshold, plan.Algorithm);
        Assert.Equal(5, plan.EditRounds);
        Assert.Equal(0.8, plan.EditThreshold);
        Assert.Equal(0.6, plan.SwitchThreshold);
        Assert.Equal(plan.GenLength + 5, plan.MaxForwardPasses);
        // A request's own budget keeps its split; its own settings override the defaults.
        GenerationPlan budgeted = generator.Plan(new GenerationRequest { PromptTokenIds = prompt, Budget = 0.5, EditThreshold = 0, SwitchThreshold = 0 });
        Assert.Equal(Budget.Split(plan.GenLength, 0.5, d.EditShare).EditSteps, budgeted.EditRounds);
        Assert.Equal(0, budgeted.EditThreshold);
        Assert.Equal(0, budgeted.SwitchThreshold);
        GenerationResult result = generator.Generate(plan);
        Assert.InRange(result.Stats.EditPasses, 1, 5);
        Assert.InRange(result.Stats.MaskPasses, 1, plan.GenLength);
    }

    [Fact]
    public void Budget_auto_plans_from_the_manifest_auto_setting_and_the_request_still_wins()
    {
        using var dir = new TempPackage();
        EditManifest(dir.Path, m => m["generation"]!["auto"] = new JsonObject
        {
            ["algorithm"] = "threshold",
            ["threshold"] = 0.8,
            ["edit_rounds"] = 3,
            ["edit_threshold"] = 0.4,
            ["switch_threshold"] = 0.6,
        });
        using var package = ModelPackage.Load(dir.Path);
        AutoSetting auto = Assert.IsType<AutoSetting>(package.Manifest.Generation.Auto);
        Assert.Equal(DecodingAlgorithm.Threshold, auto.Algorithm);
        Assert.Null(auto.Budget);
        using var generator = new Generator(package);
        int[] prompt = [591, 10, 20];
        GenerationPlan plan = generator.Plan(new GenerationRequest { PromptTokenIds = prompt, AutoBudget = true });
        Assert.Equal(DecodingAlgorithm.Threshold, plan.Algorithm);
        Assert.Equal(0.8, plan.Threshold);
        Assert.Equal(3, plan.EditRounds);
        Assert.Equal(0.4, plan.EditThreshold);
        Assert.Equal(0.6, plan.SwitchThreshold);
        // Without auto the plain defaults hold; with it, a request's own setting still wins.
        GenerationPlan plain = generator.Plan(new GenerationRequest { PromptTokenIds = prompt });
        Assert.Equal(DecodingAlgorithm.MeDlm, plain.Algorithm);
        Assert.Equal(0, plain.EditThreshold);
        GenerationPlan own = generator.Plan(new GenerationRequest { PromptTokenIds = prompt, AutoBudget = true, EditSteps = 1, Threshold = 0.95 });
        Assert.Equal(1, own.EditRounds);
        Assert.Equal(0.95, own.Threshold);
        Assert.Equal(0.4, own.EditThreshold);
        var both = Assert.Throws<GenerationRequestException>(() => generator.Plan(new GenerationRequest { PromptTokenIds = prompt, AutoBudget = true, Budget = 0.5 }));
        Assert.Equal(nameof(GenerationRequest.AutoBudget), both.Property);
    }

    [Fact]
    public void Budget_auto_with_fixed_steps_replaces_the_budget_split()
    {
        using var dir = new TempPackage();
        EditManifest(dir.Path, m => m["generation"]!["auto"] = new JsonObject { ["algorithm"] = "medlm", ["mask_steps"] = 16, ["edit_rounds"] = 2, ["switch_threshold"] = 0.9 });
        using var package = ModelPackage.Load(dir.Path);
        using var generator = new Generator(package);
        int[] prompt = [591, 10, 20];
        GenerationPlan plan = generator.Plan(new GenerationRequest { PromptTokenIds = prompt, AutoBudget = true });
        Assert.Equal((DecodingAlgorithm.MeDlm, 16, 2, 0.9), (plan.Algorithm, plan.MaskSteps, plan.EditRounds, plan.SwitchThreshold));
        // Only budget auto reads them: the plain defaults keep the budget's split.
        GenerationPlan plain = generator.Plan(new GenerationRequest { PromptTokenIds = prompt });
        (int masks, int edits) = Budget.Split(plain.GenLength, package.Manifest.Generation.Budget, package.Manifest.Generation.EditShare);
        Assert.Equal((masks, edits, 0.0), (plain.MaskSteps, plain.EditRounds, plain.SwitchThreshold));
    }

    [Fact]
    public void Budget_auto_without_a_manifest_auto_setting_is_refused_naming_it()
    {
        using var dir = new TempPackage();
        using var package = ModelPackage.Load(dir.Path);
        Assert.Null(package.Manifest.Generation.Auto);
        using var generator = new Generator(package);
        var e = Assert.Throws<GenerationRequestException>(() => generator.Plan(new GenerationRequest { PromptTokenIds = [591, 10], AutoBudget = true }));
        Assert.Equal(nameof(GenerationRequest.AutoBudget), e.Property);
        Assert.Contains("no generation.auto", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Stage_one_only_package_loads_without_an_edit_head()
    {
        using var dir = new TempPackage();
        File.Delete(Path.Combine(dir.Path, "edit_head.onnx"));
        EditManifest(dir.Path, m =>
        {
            m["architecture"] = "llada";
            m["graphs"]!.AsObject().Remove("edit_head");
        });
        using var package = ModelPackage.Load(dir.Path);
        Assert.False(package.HasEditHead);
    }

    [Fact]
    public void Cuda_provider_fails_clearly_or_runs_on_cuda()
    {
        // Without CUDA (this project's CI) loading must fail with one clear error; on a GPU machine it must load on CUDA.
        try
        {
            using var package = ModelPackage.Load(TestModels.FixturePackagePath, new ModelOptions { ExecutionProvider = ExecutionProvider.Cuda });
            Assert.Equal(ExecutionProvider.Cuda, package.ExecutionProvider);
        }
        catch (ModelLoadException e)
        {
            Assert.Contains("denoiser.onnx: the CUDA execution provider could not be created (", e.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Auto_provider_falls_back_to_the_cpu_with_one_log_line()
    {
        var log = new ListLogger();
        using var package = ModelPackage.Load(TestModels.FixturePackagePath,
            new ModelOptions { ExecutionProvider = ExecutionProvider.Auto, Logger = log });
        var warnings = log.Lines.Where(l => l.Level == LogLevel.Warning).ToList();
        if (package.ExecutionProvider == ExecutionProvider.Cpu)
        {
            Assert.Single(warnings);
            Assert.StartsWith("CUDA execution provider unavailable, running on the CPU: ", warnings[0].Text, StringComparison.Ordinal);
        }
        else
        {
            Assert.Empty(warnings);
        }
    }

    [Fact]
    public void Disposed_package_refuses_new_generators_work()
    {
        var package = ModelPackage.Load(TestModels.FixturePackagePath);
        package.Dispose();
        Assert.Throws<ObjectDisposedException>(() => new MeDlm.Generation.Generator(package));
    }

    /// <summary>A temp copy of the fixture package, deleted on dispose.</summary>
    private sealed class TempPackage : IDisposable
    {
        public TempPackage()
        {
            Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "medlm-test-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(Path);
            foreach (string f in Directory.GetFiles(TestModels.FixturePackagePath))
            {
                File.Copy(f, System.IO.Path.Combine(Path, System.IO.Path.GetFileName(f)));
            }
        }

        public string Path { get; }

        public void Dispose()
        {
            try
            {
                Directory.Delete(Path, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    private sealed class ListLogger : ILogger
    {
        public List<(LogLevel Level, string Text)> Lines { get; } = [];

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (Lines)
            {
                Lines.Add((logLevel, formatter(state, exception)));
            }
        }
    }
}
