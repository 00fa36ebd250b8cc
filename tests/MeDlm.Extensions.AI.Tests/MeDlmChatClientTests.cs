using System.Text.Json;
using MeDlm.Decoding;
using MeDlm.Model;
using AiChatMessage = Microsoft.Extensions.AI.ChatMessage;
using MeDlmChatMessage = MeDlm.Tokenization.ChatMessage;

namespace MeDlm.Extensions.AI.Tests;

/// <summary>The IChatClient adapter on the bundled model, against the generator it wraps.</summary>
public sealed class MeDlmChatClientTests : IDisposable
{
    private const string Prompt = "write sum_gt(vals) with k = 22";
    private const string MathPrompt = "Tom has 7 apples and buys 5 more. How many apples does he have now?";

    // A client over the shared generator, new for each test.
    private readonly MeDlmChatClient _client = new(BundledModel.Generator);

    public void Dispose() => _client.Dispose();

    private static GenerationResult Expected(string prompt, double? budget = null, double? temperature = null, long seed = 0,
        int? genLength = null, string? system = null)
    {
        MeDlmChatMessage[] messages = system is null
            ? [MeDlmChatMessage.User(prompt)]
            : [MeDlmChatMessage.System(system), MeDlmChatMessage.User(prompt)];
        int promptTokens = BundledModel.Package.Tokenizer.EncodeToIds(BundledModel.Package.Manifest.ChatTemplate.Apply(messages)).Count;
        return BundledModel.Generator.Generate(new GenerationRequest
        {
            Messages = messages,
            Budget = budget,
            Temperature = temperature,
            Seed = seed,
            GenLength = genLength,
            LengthCap = promptTokens + genLength, // the adapter's cap at max_tokens; none (null) without it
        });
    }

    [Fact]
    public async Task Response_is_the_generators_answer_with_usage_and_finish_reason()
    {
        GenerationResult expected = Expected(Prompt);

        ChatResponse response = await _client.GetResponseAsync(Prompt);

        Assert.Equal(expected.Text, response.Text);
        Assert.False(string.IsNullOrWhiteSpace(response.Text));
        Assert.Contains("def sum_gt", response.Text, StringComparison.Ordinal);
        Assert.Equal(ChatRole.Assistant, response.Messages.Single().Role);
        Assert.Equal(ChatFinishReason.Stop, response.FinishReason);
        Assert.Equal("medlm-tiny", response.ModelId);
        Assert.StartsWith("medlm-", response.ResponseId, StringComparison.Ordinal);
        Assert.NotNull(response.Usage);
        Assert.Equal(expected.PromptTokenIds.Count, response.Usage.InputTokenCount);
        int end = expected.TokenIds.ToList().IndexOf(BundledModel.Package.Manifest.SpecialTokens.End);
        Assert.Equal(end, response.Usage.OutputTokenCount);
        Assert.Equal(response.Usage.InputTokenCount + response.Usage.OutputTokenCount, response.Usage.TotalTokenCount);
        GenerationResult raw = Assert.IsType<GenerationResult>(response.RawRepresentation);
        Assert.Equal(expected.TokenIds, raw.TokenIds);
        Assert.Equal(expected.Stats.MaskPasses, (int)response.AdditionalProperties!["medlm.mask_passes"]!);
        Assert.Equal(expected.DraftText, (string)response.AdditionalProperties["medlm.draft"]!);
    }

    [Fact]
    public async Task Diffusion_settings_ride_in_additional_properties()
    {
        GenerationResult expected = Expected(MathPrompt, budget: 0.25, temperature: 0.8, seed: 11);

        var options = new ChatOptions
        {
            Temperature = 0.8f,
            Seed = 11,
            AdditionalProperties = new() { [MeDlmChatOptions.Budget] = 0.25 },
        };
        ChatResponse response = await _client.GetResponseAsync(MathPrompt, options);

        Assert.Equal(expected.Text, response.Text);
        Assert.Equal(expected.Stats.TotalPasses, (int)response.AdditionalProperties!["medlm.mask_passes"]! + (int)response.AdditionalProperties["medlm.edit_passes"]!);
        Assert.Equal(12, expected.Stats.MaskPasses + expected.Stats.PlannedEditRounds); // 48 x 1/4

        // The same settings as deserialized JSON (what a config file or a remote caller hands over), and the
        // library's budget syntax as the CLI and the server accept it.
        foreach (object written in new object[] { JsonDocument.Parse("0.25").RootElement, "1/4", "25%", "0.25", JsonDocument.Parse("\"1/4\"").RootElement })
        {
            var asText = new ChatOptions { Temperature = 0.8f, Seed = 11, AdditionalProperties = new() { [MeDlmChatOptions.Budget] = written } };
            Assert.Equal(expected.Text, (await _client.GetResponseAsync(MathPrompt, asText)).Text);
        }
        await AssertBudgetRefused("3/2", "must be in (0, 1]");
    }

    private async Task AssertBudgetRefused(string budget, string because)
    {
        var bad = new ChatOptions { AdditionalProperties = new() { [MeDlmChatOptions.Budget] = budget } };
        ArgumentException e = await Assert.ThrowsAnyAsync<ArgumentException>(() => _client.GetResponseAsync(MathPrompt, bad));
        Assert.Contains(because, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Budget_auto_is_the_models_measured_setting_as_text_or_json()
    {
        AutoSetting auto = Assert.IsType<AutoSetting>(BundledModel.Package.Manifest.Generation.Auto);
        // The same setting spelled out in the option keys.
        var spelled = new AdditionalPropertiesDictionary { [MeDlmChatOptions.Algorithm] = DecodingAlgorithms.Name(auto.Algorithm) };
        foreach ((string key, object? value) in new (string, object?)[]
        {
            (MeDlmChatOptions.Budget, auto.Budget), (MeDlmChatOptions.MaskSteps, auto.MaskSteps), (MeDlmChatOptions.BlockLength, auto.BlockLength), (MeDlmChatOptions.Threshold, auto.Threshold),
            (MeDlmChatOptions.EditRounds, auto.EditRounds), (MeDlmChatOptions.EditThreshold, auto.EditThreshold), (MeDlmChatOptions.SwitchThreshold, auto.SwitchThreshold),
        })
        {
            if (value is not null)
            {
                spelled[key] = value;
            }
        }
        ChatResponse expected = await _client.GetResponseAsync(Prompt, new ChatOptions { AdditionalProperties = spelled });
        foreach (object written in new object[] { "auto", JsonDocument.Parse("\"AUTO\"").RootElement })
        {
            ChatResponse r = await _client.GetResponseAsync(Prompt, new ChatOptions { AdditionalProperties = new() { [MeDlmChatOptions.Budget] = written } });
            Assert.Equal(expected.Text, r.Text);
            Assert.Equal(expected.AdditionalProperties!["medlm.mask_passes"], r.AdditionalProperties!["medlm.mask_passes"]);
            Assert.Equal(expected.AdditionalProperties["medlm.edit_passes"], r.AdditionalProperties["medlm.edit_passes"]);
        }
        // A base request's AutoBudget holds unless the options give a budget of their own.
        var baseline = new ChatOptions { RawRepresentationFactory = _ => new GenerationRequest { Prompt = "unused", AutoBudget = true } };
        Assert.Equal(expected.Text, (await _client.GetResponseAsync(Prompt, baseline)).Text);
        await AssertBudgetRefused("automatic", "or auto");
    }

    [Fact]
    public async Task Explicit_steps_and_algorithm_are_used()
    {
        var options = new ChatOptions
        {
            AdditionalProperties = new()
            {
                [MeDlmChatOptions.MaskSteps] = 6,
                [MeDlmChatOptions.EditRounds] = 0,
                [MeDlmChatOptions.Algorithm] = "low_confidence",
                [MeDlmChatOptions.BlockLength] = 16,
            },
        };
        ChatResponse response = await _client.GetResponseAsync(Prompt, options);
        GenerationResult raw = Assert.IsType<GenerationResult>(response.RawRepresentation);
        GenerationResult expected = BundledModel.Generator.Generate(new GenerationRequest
        {
            Prompt = Prompt,
            MaskSteps = 6,
            EditSteps = 0,
            Algorithm = DecodingAlgorithm.LowConfidence,
            BlockLength = 16,
        });

        Assert.Equal(6, raw.Stats.MaskPasses);
        Assert.Equal(0, raw.Stats.EditPasses);
        Assert.Equal(expected.TokenIds, raw.TokenIds);
    }

    [Fact]
    public async Task The_adaptive_settings_are_used()
    {
        var options = new ChatOptions
        {
            AdditionalProperties = new()
            {
                [MeDlmChatOptions.Algorithm] = "threshold",
                [MeDlmChatOptions.Threshold] = 0.95,
                [MeDlmChatOptions.EditRounds] = 8,
                [MeDlmChatOptions.EditThreshold] = JsonDocument.Parse("0.8").RootElement,
                [MeDlmChatOptions.SwitchThreshold] = "0.6",
            },
        };
        ChatResponse response = await _client.GetResponseAsync(Prompt, options);
        GenerationResult raw = Assert.IsType<GenerationResult>(response.RawRepresentation);
        var request = new GenerationRequest
        {
            Prompt = Prompt,
            Algorithm = DecodingAlgorithm.Threshold,
            Threshold = 0.95,
            EditSteps = 8,
            EditThreshold = 0.8,
            SwitchThreshold = 0.6,
        };
        GenerationResult expected = BundledModel.Generator.Generate(request);
        GenerationResult ungated = BundledModel.Generator.Generate(new GenerationRequest
        {
            Prompt = Prompt,
            Algorithm = DecodingAlgorithm.Threshold,
            Threshold = 0.95,
            EditSteps = 8,
        });

        Assert.Equal(expected.TokenIds, raw.TokenIds);
        Assert.Equal(expected.Stats.TotalPasses, raw.Stats.TotalPasses);
        Assert.True(raw.Stats.EditPasses is >= 1 and <= 8);
        // The switch ends stage 1 no later than the threshold alone does.
        Assert.True(raw.Stats.MaskPasses <= ungated.Stats.MaskPasses);
    }

    [Fact]
    public async Task Streaming_concatenates_to_the_response()
    {
        var options = new ChatOptions { Temperature = 0.7f, Seed = 5 };
        ChatResponse whole = await _client.GetResponseAsync(Prompt, options);

        var updates = new List<ChatResponseUpdate>();
        await foreach (ChatResponseUpdate update in _client.GetStreamingResponseAsync(Prompt, options))
        {
            updates.Add(update);
        }
        ChatResponse streamed = updates.ToChatResponse();

        Assert.True(updates.Count(u => u.Text.Length > 0) > 3, "the answer should stream in several pieces");
        Assert.Equal(whole.Text, streamed.Text);
        Assert.Equal(whole.FinishReason, streamed.FinishReason);
        Assert.Equal(whole.Usage!.OutputTokenCount, streamed.Usage!.OutputTokenCount);
        Assert.Equal(whole.Usage.InputTokenCount, streamed.Usage.InputTokenCount);
        Assert.Single(streamed.Messages);
        Assert.All(updates, u => Assert.Equal(updates[0].ResponseId, u.ResponseId));
        Assert.NotNull(updates[^1].FinishReason);
    }

    [Fact]
    public async Task Streaming_the_denoising_yields_every_step_before_the_text()
    {
        var options = new ChatOptions { AdditionalProperties = new() { [MeDlmChatOptions.StreamDenoising] = true, [MeDlmChatOptions.Budget] = 0.5 } };
        GenerationResult expected = Expected(Prompt, budget: 0.5);

        var steps = new List<GenerationStep>();
        var text = new List<ChatResponseUpdate>();
        await foreach (ChatResponseUpdate update in _client.GetStreamingResponseAsync(Prompt, options))
        {
            if (update.RawRepresentation is GenerationStep step)
            {
                Assert.Empty(text); // all steps come before the answer
                Assert.Equal("", update.Text);
                steps.Add(step);
            }
            else
            {
                text.Add(update);
            }
        }

        Assert.Equal(expected.Text, text.ToChatResponse().Text);
        Assert.Equal(expected.Stats.TotalPasses, steps.Count(s => s.Stage != GenerationStage.Transition));
        Assert.Contains(steps, s => s.Stage == GenerationStage.Unmasking);
        Assert.Contains(steps, s => s.Stage == GenerationStage.Editing);
        Assert.NotNull(steps[^1].Result);
    }

    [Fact]
    public async Task Stop_sequences_cut_the_answer()
    {
        string full = (await _client.GetResponseAsync(Prompt)).Text;
        int at = full.IndexOf("return", StringComparison.Ordinal);
        Assert.True(at > 0, $"the answer has no 'return': {full}");

        ChatResponse response = await _client.GetResponseAsync(Prompt, new ChatOptions { StopSequences = ["return", "zzz-never"] });
        Assert.Equal(full[..at], response.Text);
        Assert.Equal(ChatFinishReason.Stop, response.FinishReason);

        var streamed = new List<ChatResponseUpdate>();
        await foreach (ChatResponseUpdate u in _client.GetStreamingResponseAsync(Prompt, new ChatOptions { StopSequences = ["return"] }))
        {
            streamed.Add(u);
        }
        Assert.Equal(full[..at], streamed.ToChatResponse().Text);
    }

    [Fact]
    public async Task Max_output_tokens_is_the_generation_length_and_bounds_the_answer()
    {
        GenerationResult expected = Expected(Prompt, genLength: 8);

        ChatResponse response = await _client.GetResponseAsync(Prompt, new ChatOptions { MaxOutputTokens = 8 });

        Assert.Equal(expected.Text, response.Text);
        Assert.InRange(response.Usage!.OutputTokenCount!.Value, 1, 8);
        Assert.Equal(ChatFinishReason.Length, response.FinishReason); // a function does not fit in 8 tokens
        Assert.True(expected.ReachedLengthLimit);
    }

    [Fact]
    public async Task Instructions_are_a_system_turn()
    {
        const string system = "You write short Python.";
        GenerationResult expected = Expected(Prompt, system: system);

        ChatResponse viaInstructions = await _client.GetResponseAsync(Prompt, new ChatOptions { Instructions = system });
        ChatResponse viaMessage = await _client.GetResponseAsync([new AiChatMessage(ChatRole.System, system), new AiChatMessage(ChatRole.User, Prompt)]);

        Assert.Equal(expected.Text, viaInstructions.Text);
        Assert.Equal(expected.Text, viaMessage.Text);
        Assert.Equal(expected.PromptTokenIds.Count, viaInstructions.Usage!.InputTokenCount);
    }

    [Fact]
    public async Task A_generation_request_from_the_raw_representation_factory_is_the_base()
    {
        GenerationResult expected = Expected(MathPrompt, budget: 0.5, temperature: 0.5, seed: 3);

        var options = new ChatOptions
        {
            Seed = 3,
            RawRepresentationFactory = _ => new GenerationRequest { Prompt = "ignored", Budget = 0.5, Temperature = 0.5 },
        };
        Assert.Equal(expected.Text, (await _client.GetResponseAsync(MathPrompt, options)).Text);
    }

    [Fact]
    public async Task Middleware_from_microsoft_extensions_ai_composes()
    {
        IChatClient client = _client.AsBuilder()
            .ConfigureOptions(o => o.AdditionalProperties = new() { [MeDlmChatOptions.Budget] = 0.5 })
            .Build();
        GenerationResult expected = Expected(Prompt, budget: 0.5);

        Assert.Equal(expected.Text, (await client.GetResponseAsync(Prompt)).Text);
        Assert.Same(_client, client.GetService<MeDlmChatClient>());
    }

    [Fact]
    public void Services_describe_the_model()
    {
        ChatClientMetadata metadata = Assert.IsType<ChatClientMetadata>(_client.GetService(typeof(ChatClientMetadata)));
        Assert.Equal("medlm", metadata.ProviderName);
        Assert.Equal("medlm-tiny", metadata.DefaultModelId);
        Assert.Same(BundledModel.Generator, _client.GetService<Generator>());
        Assert.Same(BundledModel.Package, _client.GetService<ModelPackage>());
        Assert.Null(_client.GetService<ChatClientMetadata>("some key"));
        Assert.Null(_client.GetService<string>());
    }

    public static TheoryData<string, Func<ChatOptions>> UnsupportedOptions => new()
    {
        { "tools", () => new ChatOptions { Tools = [AIFunctionFactory.Create(() => 42, "answer")] } },
        { "json", () => new ChatOptions { ResponseFormat = ChatResponseFormat.Json } },
        { "top_p", () => new ChatOptions { TopP = 0.9f } },
        { "top_k", () => new ChatOptions { TopK = 40 } },
        { "penalty", () => new ChatOptions { PresencePenalty = 0.5f } },
    };

    [Theory]
    [MemberData(nameof(UnsupportedOptions))]
    public async Task What_the_model_cannot_do_is_refused(string what, Func<ChatOptions> options)
    {
        var e = await Assert.ThrowsAsync<NotSupportedException>(() => _client.GetResponseAsync(Prompt, options()));
        Assert.False(string.IsNullOrWhiteSpace(e.Message), what);
        await Assert.ThrowsAsync<NotSupportedException>(async () =>
        {
            await foreach (ChatResponseUpdate _ in _client.GetStreamingResponseAsync(Prompt, options()))
            {
            }
        });
    }

    [Fact]
    public async Task Non_text_turns_are_refused()
    {
        var image = new AiChatMessage(ChatRole.User, [new DataContent(new byte[] { 1, 2, 3 }, "image/png")]);
        var e = await Assert.ThrowsAsync<NotSupportedException>(() => _client.GetResponseAsync([image]));
        Assert.Contains("DataContent", e.Message, StringComparison.Ordinal);

        var tool = new AiChatMessage(ChatRole.Tool, "42");
        e = await Assert.ThrowsAsync<NotSupportedException>(() => _client.GetResponseAsync([tool]));
        Assert.Contains("'tool'", e.Message, StringComparison.Ordinal);
    }

    public static TheoryData<string, Func<ChatOptions?>, IEnumerable<AiChatMessage>> InvalidRequests => new()
    {
        { "not served", () => new ChatOptions { ModelId = "gpt-4o" }, [new(ChatRole.User, Prompt)] },
        { "MaxOutputTokens", () => new ChatOptions { MaxOutputTokens = 0 }, [new(ChatRole.User, Prompt)] },
        { "maximum context length", () => new ChatOptions { MaxOutputTokens = 120 }, [new(ChatRole.User, Prompt)] },
        { "Temperature", () => new ChatOptions { Temperature = 3f }, [new(ChatRole.User, Prompt)] },
        { "low_confidence", () => new ChatOptions { AdditionalProperties = new() { [MeDlmChatOptions.Algorithm] = "beam" } }, [new(ChatRole.User, Prompt)] },
        { "not divisible", () => new ChatOptions { AdditionalProperties = new() { [MeDlmChatOptions.BlockLength] = 7 } }, [new(ChatRole.User, Prompt)] },
        { "whole number", () => new ChatOptions { AdditionalProperties = new() { [MeDlmChatOptions.MaskSteps] = 2.5 } }, [new(ChatRole.User, Prompt)] },
        { "Budget", () => new ChatOptions { AdditionalProperties = new() { [MeDlmChatOptions.Budget] = 1.5 } }, [new(ChatRole.User, Prompt)] },
        { "must be a number", () => new ChatOptions { AdditionalProperties = new() { [MeDlmChatOptions.Threshold] = "high" } }, [new(ChatRole.User, Prompt)] },
        { "EditThreshold must be in [0, 1]", () => new ChatOptions { AdditionalProperties = new() { [MeDlmChatOptions.EditThreshold] = 1.5 } }, [new(ChatRole.User, Prompt)] },
        { "SwitchThreshold compares confidences", () => new ChatOptions { AdditionalProperties = new() { [MeDlmChatOptions.SwitchThreshold] = 0.5, [MeDlmChatOptions.Algorithm] = "random" } }, [new(ChatRole.User, Prompt)] },
        { "true or false", () => new ChatOptions { AdditionalProperties = new() { [MeDlmChatOptions.StreamDenoising] = "yes" } }, [new(ChatRole.User, Prompt)] },
        { "empty string", () => new ChatOptions { StopSequences = [""] }, [new(ChatRole.User, Prompt)] },
        { "no messages", () => null, [] },
        { "maximum context length", () => null, [new(ChatRole.User, string.Concat(Enumerable.Repeat("write sum_gt(vals) ", 40)))] },
    };

    [Theory]
    [MemberData(nameof(InvalidRequests))]
    public async Task Invalid_requests_fail_clearly_and_change_nothing(string messagePart, Func<ChatOptions?> options, IEnumerable<AiChatMessage> messages)
    {
        GenerationResult expected = Expected(Prompt);

        var e = await Assert.ThrowsAnyAsync<ArgumentException>(() => _client.GetResponseAsync(messages, options()));
        Assert.Contains(messagePart, e.Message, StringComparison.Ordinal);

        Assert.Equal(expected.Text, (await _client.GetResponseAsync(Prompt)).Text);
    }

    [Fact]
    public async Task Cancellation_stops_the_call_and_the_client_goes_on()
    {
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => _client.GetResponseAsync(Prompt, cancellationToken: cancelled.Token));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (ChatResponseUpdate _ in _client.GetStreamingResponseAsync(Prompt,
                new ChatOptions { AdditionalProperties = new() { [MeDlmChatOptions.StreamDenoising] = true } }, cancelled.Token))
            {
            }
        });

        Assert.Equal(Expected(Prompt).Text, (await _client.GetResponseAsync(Prompt)).Text);
    }

    [Fact]
    public async Task A_client_loaded_from_a_folder_owns_its_model()
    {
        var client = new MeDlmChatClient(BundledModel.Folder, modelId: "tiny");
        ChatResponse response = await client.GetResponseAsync(Prompt, new ChatOptions { ModelId = "tiny" });
        Assert.Equal(Expected(Prompt).Text, response.Text);
        Assert.Equal("tiny", response.ModelId);

        client.Dispose();
        client.Dispose(); // twice is harmless
        await Assert.ThrowsAsync<ObjectDisposedException>(() => client.GetResponseAsync(Prompt));

        // A client over a shared generator leaves it alone.
        new MeDlmChatClient(BundledModel.Generator).Dispose();
        Assert.Equal(Expected(Prompt).Text, BundledModel.Generator.Generate(new GenerationRequest { Messages = [MeDlmChatMessage.User(Prompt)] }).Text);
    }

    [Fact]
    public void A_bad_model_folder_is_one_clear_error()
    {
        string folder = Path.Combine(Path.GetTempPath(), "medlm-no-model-" + Guid.NewGuid().ToString("N"));
        var e = Assert.Throws<ModelLoadException>(() => new MeDlmChatClient(folder));
        Assert.Contains(folder, e.Message, StringComparison.Ordinal);
    }
}
