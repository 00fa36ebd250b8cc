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

    /// <summary>A manifest edit; the error names medlm.json unless <paramref name="file"/> says which file it finds at fault.</summary>
    private static BrokenCase Manifest(string name, Action<JsonObject> edit, string fragment, string file = "medlm.json") =>
        new(name, d => EditManifest(d, edit), file, fragment);

    /// <summary>One graph replaced by a broken one from tests/fixtures/bad-graphs; the error names that graph.</summary>
    private static BrokenCase Graph(string name, string badGraph, string target, string fragment) =>
        new(name, d => UseGraph(d, badGraph, target), target, fragment);

    /// <summary>A file of the package deleted; the error names it.</summary>
    private static BrokenCase Missing(string name, string file) =>
        new(name, d => File.Delete(Path.Combine(d, file)), file, "is missing");

    private static readonly BrokenCase[] Cases =
    [
        Missing("missing manifest", "medlm.json"),
        new("manifest not JSON", d => File.WriteAllText(Path.Combine(d, "medlm.json"), "{ \"format\": "), "medlm.json", "is not valid JSON"),
        Manifest("unknown format", m => m["format"] = "medlm-package/9", "format \"medlm-package/9\" is not supported"),
        Manifest("missing vocab_size", m => m.Remove("vocab_size"), "vocab_size is missing"),
        Manifest("vocab_size not a number", m => m["vocab_size"] = "593", "vocab_size must be an integer"),
        Manifest("mask outside vocab", m => m["special_tokens"]!["mask"] = 9999, "special_tokens.mask 9999 is outside the vocabulary (593)"),
        Manifest("missing delete token", m => m["special_tokens"]!.AsObject().Remove("delete"), "special_tokens.delete is missing"),
        Manifest("manifest vocab below the tokenizer", m =>
            {
                m["vocab_size"] = 590;
                m["special_tokens"]!["end"] = 586;
                m["special_tokens"]!["delete"] = 587;
            }, "has 593 tokens, more than the model's vocab_size 590", file: "tokenizer.json"),
        Manifest("manifest vocab above the graph", m => m["vocab_size"] = 600, "output 'logits' has vocab dimension 593, but medlm.json says 600", file: "denoiser.onnx"),
        Manifest("manifest hidden size wrong", m => m["hidden_size"] = 8, "output 'hidden_states' has hidden dimension 4, but medlm.json says 8", file: "denoiser.onnx"),
        Manifest("gen_length fills the context", m => m["generation"]!["gen_length"] = 64, "generation.gen_length 64 leaves no room for a prompt in max_sequence_length 64"),
        Manifest("block_length does not divide", m => m["generation"]!["block_length"] = 5, "generation.block_length 5 does not divide generation.gen_length 16"),
        Manifest("unknown algorithm", m => m["generation"]!["algorithm"] = "beam", "generation.algorithm \"beam\" is not one of"),
        Manifest("edit_threshold above 1", m => m["generation"]!["edit_threshold"] = 1.5, "generation.edit_threshold 1.5 must be in [0, 1]"),
        Manifest("edit_threshold not a number", m => m["generation"]!["edit_threshold"] = "high", "generation.edit_threshold must be a number"),
        Manifest("negative switch_threshold", m => m["generation"]!["switch_threshold"] = -0.25, "generation.switch_threshold -0.25 must be in [0, 1]"),
        Manifest("switch_threshold with random remasking", m =>
            {
                m["generation"]!["algorithm"] = "random";
                m["generation"]!["switch_threshold"] = 0.5;
            }, "generation.switch_threshold 0.5 does not apply to algorithm \"random\""),
        Manifest("auto without an algorithm", m => m["generation"]!["auto"] = new JsonObject { ["threshold"] = 0.9 }, "generation.auto.algorithm is missing"),
        Manifest("auto with an unknown key", m => m["generation"]!["auto"] = new JsonObject { ["algorithm"] = "threshold", ["tau"] = 0.9 },
            "generation.auto.tau is not an auto setting key"),
        Manifest("auto threshold above 1", m => m["generation"]!["auto"] = new JsonObject { ["algorithm"] = "threshold", ["threshold"] = 1.5 },
            "generation.auto.threshold 1.5 must be in (0, 1]"),
        Manifest("auto switch with random remasking", m => m["generation"]!["auto"] = new JsonObject { ["algorithm"] = "random", ["switch_threshold"] = 0.5 },
            "generation.auto.switch_threshold 0.5 does not apply to algorithm \"random\""),
        Manifest("auto block length not dividing G", m => m["generation"]!["auto"] = new JsonObject { ["algorithm"] = "medlm", ["block_length"] = 5 },
            "generation.auto.block_length 5 does not divide generation.gen_length 16"),
        Manifest("auto mask_steps above G", m => m["generation"]!["auto"] = new JsonObject { ["algorithm"] = "medlm", ["mask_steps"] = 17 },
            "generation.auto.mask_steps 17 exceeds generation.gen_length 16"),
        Manifest("auto not an object", m => m["generation"]!["auto"] = "threshold", "generation.auto must be an object"),
        Manifest("fractional edit_rounds", m => m["generation"]!["edit_rounds"] = 2.5, "generation.edit_rounds 2.5 must be a whole number >= 0"),
        Manifest("unknown output form", m => m["graphs"]!["denoiser"]!["outputs"] = "topp", "graphs.denoiser.outputs \"topp\" is not one of \"full\", \"topk\""),
        Manifest("top-k without k", m => m["graphs"]!["denoiser"]!["outputs"] = "topk", "graphs.denoiser.topk is missing"),
        Manifest("top-k without special ids", m =>
            {
                m["graphs"]!["denoiser"]!["outputs"] = "topk";
                m["graphs"]!["denoiser"]!["topk"] = 8;
            }, "graphs.denoiser.special_ids is missing"),
        Manifest("top-k special ids without delete", m =>
            {
                m["graphs"]!["denoiser"]!["outputs"] = "topk";
                m["graphs"]!["denoiser"]!["topk"] = 8;
                m["graphs"]!["denoiser"]!["special_ids"] = new JsonArray(589, 588, 592);
            }, "special_ids must hold the pad, eos, delete and end ids (decoding bans them); 590 is missing"),
        Manifest("top-k no larger than the special ids", m =>
            {
                m["graphs"]!["denoiser"]!["outputs"] = "topk";
                m["graphs"]!["denoiser"]!["topk"] = 4;
                m["graphs"]!["denoiser"]!["special_ids"] = new JsonArray(589, 588, 590, 592);
            }, "graphs.denoiser.topk 4 must be more than the 4 special ids"),
        Manifest("top-k with sampling defaults", m =>
            {
                m["graphs"]!["denoiser"]!["outputs"] = "topk";
                m["graphs"]!["denoiser"]!["topk"] = 8;
                m["graphs"]!["denoiser"]!["special_ids"] = new JsonArray(589, 588, 590, 592);
                m["generation"]!["temperature"] = 0.7;
            }, "generation.temperature 0.7 needs full logits"),
        Manifest("top-k manifest over a full graph", m =>
            {
                m["graphs"]!["denoiser"]!["outputs"] = "topk";
                m["graphs"]!["denoiser"]!["topk"] = 8;
                m["graphs"]!["denoiser"]!["special_ids"] = new JsonArray(589, 588, 590, 592);
            }, "missing output 'topk_ids' (the graph's outputs are 'logits', 'hidden_states')", file: "denoiser.onnx"),
        Manifest("medlm without edit head", m => m["graphs"]!.AsObject().Remove("edit_head"), "architecture \"medlm\" needs graphs.edit_head"),
        Manifest("graph path escapes the folder", m => m["graphs"]!["denoiser"]!["file"] = "../denoiser.onnx", "must be a file name inside the package folder"),
        Missing("missing tokenizer", "tokenizer.json"),
        Missing("missing denoiser", "denoiser.onnx"),
        Missing("missing edit head", "edit_head.onnx"),
        Graph("denoiser not ONNX", "not_an_onnx_model.onnx", "denoiser.onnx", "is not an ONNX model ("),
        Graph("edit head not ONNX", "not_an_onnx_model.onnx", "edit_head.onnx", "is not an ONNX model ("),
        Graph("wrong input names", "denoiser_wrong_input_names.onnx", "denoiser.onnx", "missing input 'input_ids' (the graph's inputs are 'ids', 'mask')"),
        Graph("missing attention_mask", "denoiser_missing_attention_mask.onnx", "denoiser.onnx", "missing input 'attention_mask'"),
        Graph("extra input", "denoiser_extra_input.onnx", "denoiser.onnx", "unexpected input 'position_ids'"),
        Graph("float input ids", "denoiser_float_input_ids.onnx", "denoiser.onnx", "input 'input_ids' has element type float32, expected int64"),
        Graph("graph vocab differs", "denoiser_wrong_vocab.onnx", "denoiser.onnx", "output 'logits' has vocab dimension 600, but medlm.json says 593"),
        Graph("graph hidden differs", "denoiser_wrong_hidden.onnx", "denoiser.onnx", "output 'hidden_states' has hidden dimension 6, but medlm.json says 4"),
        Graph("rank-2 logits", "denoiser_rank2_logits.onnx", "denoiser.onnx", "output 'logits' has rank 2, expected 3"),
        Graph("fixed batch", "denoiser_fixed_batch.onnx", "denoiser.onnx", "input 'input_ids' has a fixed batch dimension (1)"),
        Graph("no hidden states", "denoiser_no_hidden_states.onnx", "denoiser.onnx", "missing output 'hidden_states'"),
        Graph("edit head output name", "edit_head_wrong_output_name.onnx", "edit_head.onnx", "missing output 'next_token_logits'"),
        Graph("edit head vocab", "edit_head_wrong_vocab.onnx", "edit_head.onnx", "output 'next_token_logits' has vocab dimension 600, but medlm.json says 593"),
        Manifest("unknown edit output form", m => m["graphs"]!["edit_head"]!["outputs"] = "top1", "graphs.edit_head.outputs \"top1\" is not one of \"full\", \"argmax\""),
        Manifest("edit output form not a string", m => m["graphs"]!["edit_head"]!["outputs"] = 1, "graphs.edit_head.outputs must be a string"),
        Manifest("argmax declared, full graph", m => m["graphs"]!["edit_head"]!["outputs"] = "argmax", "missing output 'next_token_ids'", file: "edit_head.onnx"),
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
