using MeDlm.Decoding;

namespace MeDlm.Tests.Generation;

/// <summary>The one budget syntax (<see cref="Budget.TryParse(string?, out double, out bool, out string)"/>) that the CLI, the server and the chat client accept.</summary>
public sealed class BudgetSyntaxTests
{
    [Theory]
    [InlineData("1", 1.0)]
    [InlineData("1/1", 1.0)]
    [InlineData("1/2", 0.5)]
    [InlineData("1/4", 0.25)]
    [InlineData(" 1 / 8 ", 0.125)]
    [InlineData("0.125", 0.125)]
    [InlineData(".5", 0.5)]
    [InlineData("25%", 0.25)]
    [InlineData("12.5%", 0.125)]
    [InlineData("3/4", 0.75)]
    public void Parses_fractions_decimals_and_percentages(string text, double expected)
    {
        Assert.True(Budget.TryParse(text, out double b, out string error), error);
        Assert.Equal(expected, b, 12);
        Assert.Equal(expected, Budget.Parse(text), 12);
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
    [InlineData("150%")]
    public void Rejects_what_is_not_a_budget_in_0_1(string text)
    {
        Assert.False(Budget.TryParse(text, out _, out string error));
        Assert.False(string.IsNullOrEmpty(error));
        FormatException e = Assert.Throws<FormatException>(() => Budget.Parse(text));
        Assert.Equal(error, e.Message);
        // Each message says once how a budget is written (the hosts add none of their own).
        Assert.EndsWith($"(write {Budget.Syntax})", error, StringComparison.Ordinal);
        Assert.Single(error.Split("(write ").Skip(1));
        Assert.False(Budget.TryParse(text, out _, out _, out string withAuto));
        Assert.EndsWith($"(write {Budget.SyntaxWithAuto})", withAuto, StringComparison.Ordinal);
        Assert.Single(withAuto.Split("(write ").Skip(1));
    }

    [Theory]
    [InlineData("auto")]
    [InlineData(" AUTO ")]
    public void Auto_is_read_where_it_is_allowed_and_refused_where_a_fraction_is_needed(string text)
    {
        Assert.True(Budget.TryParse(text, out double b, out bool auto, out string error), error);
        Assert.True(auto);
        Assert.Equal(0, b);
        Assert.False(Budget.TryParse(text, out _, out error));
        Assert.Contains("not a fraction", error, StringComparison.Ordinal);
        Assert.Throws<FormatException>(() => Budget.Parse(text));
    }

    [Theory]
    [InlineData("1/8", 0.125)]
    [InlineData("100%", 1.0)]
    public void The_auto_aware_parser_reads_fractions_as_the_plain_one(string text, double expected)
    {
        Assert.True(Budget.TryParse(text, out double b, out bool auto, out string error), error);
        Assert.False(auto);
        Assert.Equal(expected, b, 12);
    }
}
