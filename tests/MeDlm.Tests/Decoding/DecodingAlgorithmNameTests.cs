using MeDlm.Decoding;

namespace MeDlm.Tests.Decoding;

/// <summary>The names a manifest, the CLI, the server and the golden files may give an algorithm.</summary>
public sealed class DecodingAlgorithmNameTests
{
    [Theory]
    [InlineData("medlm", DecodingAlgorithm.MeDlm)]
    [InlineData("MeDlm", DecodingAlgorithm.MeDlm)]
    [InlineData("low_confidence", DecodingAlgorithm.LowConfidence)]
    [InlineData("lowconfidence", DecodingAlgorithm.LowConfidence)]
    [InlineData(" LowConfidence ", DecodingAlgorithm.LowConfidence)]
    [InlineData("random", DecodingAlgorithm.Random)]
    [InlineData("threshold", DecodingAlgorithm.Threshold)]
    [InlineData("origin", DecodingAlgorithm.Origin)]
    [InlineData("maskgit_plus", DecodingAlgorithm.MaskGitPlus)]
    [InlineData("MaskGitPlus", DecodingAlgorithm.MaskGitPlus)]
    [InlineData("topk_margin", DecodingAlgorithm.TopKMargin)]
    [InlineData("TOPKMARGIN", DecodingAlgorithm.TopKMargin)]
    [InlineData("entropy", DecodingAlgorithm.Entropy)]
    public void Names_and_enum_names_parse(string name, DecodingAlgorithm expected)
    {
        Assert.True(DecodingAlgorithms.TryParse(name, out DecodingAlgorithm got));
        Assert.Equal(expected, got);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("beam")]
    [InlineData("low-confidence")]
    [InlineData("mask_git_plus")]
    public void Other_names_do_not(string? name) => Assert.False(DecodingAlgorithms.TryParse(name, out _));

    [Fact]
    public void Every_algorithm_parses_from_its_name()
    {
        foreach (DecodingAlgorithm a in Enum.GetValues<DecodingAlgorithm>())
        {
            Assert.True(DecodingAlgorithms.TryParse(DecodingAlgorithms.Name(a), out DecodingAlgorithm got));
            Assert.Equal(a, got);
        }
    }
}
