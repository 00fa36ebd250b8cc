namespace MeDlm.Cli.Tests;

public sealed class BudgetParserTests
{
    [Theory]
    [InlineData("1", 1.0)]
    [InlineData("1/1", 1.0)]
    [InlineData("1/2", 0.5)]
    [InlineData("1/4", 0.25)]
    [InlineData(" 1 / 8 ", 0.125)]
    [InlineData("0.25", 0.25)]
    [InlineData(".5", 0.5)]
    [InlineData("25%", 0.25)]
    [InlineData("3/4", 0.75)]
    public void Parses_fractions_decimals_and_percentages(string text, double expected)
    {
        Assert.True(BudgetParser.TryParse(text, out double b, out string error), error);
        Assert.Equal(expected, b, 12);
    }

    [Theory]
    [InlineData("")]
    [InlineData("0")]
    [InlineData("2")]
    [InlineData("3/2")]
    [InlineData("1/0")]
    [InlineData("-1/4")]
    [InlineData("quarter")]
    [InlineData("1/4/2")]
    [InlineData("NaN")]
    [InlineData("Infinity")]
    public void Rejects_what_is_not_a_budget_in_0_1(string text)
    {
        Assert.False(BudgetParser.TryParse(text, out _, out string error));
        Assert.False(string.IsNullOrEmpty(error));
    }

    [Fact]
    public void Parses_a_list_and_labels_1_as_1_over_1()
    {
        Assert.True(BudgetParser.TryParseList("1,1/2, 0.25 ,1/8", out List<(string Label, double Value)> list, out string error), error);
        Assert.Equal(["1/1", "1/2", "0.25", "1/8"], list.ConvertAll(x => x.Label));
        Assert.Equal([1.0, 0.5, 0.25, 0.125], list.ConvertAll(x => x.Value));
        Assert.False(BudgetParser.TryParseList("1,2", out _, out _));
        Assert.False(BudgetParser.TryParseList(" , ", out _, out _));
    }
}
