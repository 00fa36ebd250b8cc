using MeDlm.Decoding;
using MeDlm.Generation;
using MeDlm.Model;
using ChatMessage = MeDlm.Tokenization.ChatMessage;

namespace MeDlm.Tests.Shared;

/// <summary>
/// The tiny random Dream-layout package (tests/fixtures/packages/tiny-dream) and the one sampled chat both
/// front ends are checked on: the adapter and the server must give the generator's answer to it.
/// </summary>
internal static class TinyDream
{
    /// <summary>The chat's one user turn.</summary>
    public const string Prompt = "write sum_gt(xs) with k = 9";

    public static string Folder => Path.Combine(RepositoryRoot.Path, "tests", "fixtures", "packages", "tiny-dream");

    /// <summary>
    /// The generator's answer to <see cref="Prompt"/> with entropy ordering, 8 mask steps, top-k 12, alg_temp 0.3,
    /// seed 5 and 32 tokens capped at the answer (what max_tokens asks for), at the temperature and top-p the
    /// front end passes on (the adapter's options are float, the server's JSON double).
    /// </summary>
    public static GenerationResult SampledEntropyAnswer(ModelPackage package, Generator generator, double temperature, double topP)
    {
        ChatMessage[] messages = [ChatMessage.User(Prompt)];
        int promptLength = package.Tokenizer.EncodeToIds(package.Manifest.ChatTemplate.Apply(messages)).Count;
        return generator.Generate(new GenerationRequest
        {
            Messages = messages,
            GenLength = 32,
            LengthCap = promptLength + 32,
            Algorithm = DecodingAlgorithm.Entropy,
            MaskSteps = 8,
            Temperature = temperature,
            TopP = topP,
            TopK = 12,
            AlgTemp = 0.3,
            Seed = 5,
        });
    }
}
