using MeDlm.Tokenization;
using Xunit.Abstractions;

namespace MeDlm.Tests.Tokenization;

/// <summary>Runs only when MEDLM_LLADA_TOKENIZER names a LLaDA-8B tokenizer.json (not in the repository: size and licence).</summary>
public sealed class LladaFactAttribute : FactAttribute
{
    public const string Variable = "MEDLM_LLADA_TOKENIZER";

    public LladaFactAttribute()
    {
        string? path = Environment.GetEnvironmentVariable(Variable);
        if (string.IsNullOrEmpty(path) || !File.Exists(path))
        {
            Skip = $"set {Variable} to a LLaDA-8B tokenizer.json to run";
        }
    }
}

public class LladaTokenizerTests
{
    private readonly ITestOutputHelper _output;

    public LladaTokenizerTests(ITestOutputHelper output) => _output = output;

    [LladaFact]
    public void Loads_and_encodes_a_chatml_prompt()
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var t = MeDlmTokenizer.Load(Environment.GetEnvironmentVariable(LladaFactAttribute.Variable)!);
        _output.WriteLine($"loaded in {sw.ElapsedMilliseconds} ms, VocabSize {t.VocabSize}");

        // Ids from the ME-DLM checkpoint's tokenizer_config.json / docs/DESIGN.md §1.
        Assert.Equal([126336], t.EncodeToIds("<|mdm_mask|>"));
        Assert.Equal([126085], t.EncodeToIds("<|im_end|>"));
        Assert.Equal([126084], t.EncodeToIds("<|del|>"));
        Assert.Equal([126081], t.EncodeToIds("<|endoftext|>"));
        Assert.True(t.IsSpecial(126336));
        Assert.True(t.VocabSize <= 126464);

        string prompt = ChatTemplate.ChatML.ApplyPrompt("Write a function sum_gt(xs) that returns the sum of the elements greater than 9. 中文 🙂");
        int[] ids = [.. t.EncodeToIds(prompt)];
        _output.WriteLine($"<|im_start|> added token: {t.TryGetSpecialTokenId("<|im_start|>", out int s)} {s}");
        _output.WriteLine($"prompt ids ({ids.Length}): {string.Join(",", ids)}");
        foreach (int id in ids)
        {
            _output.WriteLine($"  {id} {System.Text.Json.JsonSerializer.Serialize(t.Decode([id]))}");
        }

        Assert.Equal(prompt, t.Decode(ids));
        Assert.Equal(126085, t.EncodeToIds("<|im_end|>\n")[0]);
    }
}
