using MeDlm.Decoding;

namespace MeDlm.Tests.Decoding;

/// <summary>The names a manifest, the CLI, the server and the golden files may give an algorithm.</summary>
public sealed class DecodingAlgorithmNameTests
{
    /// <summary>Each algorithm's name, the name without underscores, the enum name, and the name upper-cased with spaces around.</summary>
    public static TheoryData<string, DecodingAlgorithm> Spellings()
    {
        var data = new TheoryData<string, DecodingAlgorithm>();
        foreach (DecodingAlgorithm a in Enum.GetValues<DecodingAlgorithm>())
        {
            string name = DecodingAlgorithms.Name(a);
            foreach (string spelling in new HashSet<string>([name, name.Replace("_", "", StringComparison.Ordinal), a.ToString(), $" {name.ToUpperInvariant()} "]))
            {
                data.Add(spelling, a);
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Spellings))]
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
}
