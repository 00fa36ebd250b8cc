namespace MeDlm.Cli.Tests;

public sealed class BudgetParserTests
{
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
