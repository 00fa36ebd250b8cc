using MeDlm.Cli.Evaluation;

namespace MeDlm.Cli.Tests;

public sealed class AnswerCheckTests
{
    [Fact]
    public void Code_is_the_text_after_the_first_fence_line()
    {
        string completion = "Here is the code:\n```python\ndef f(x):\n    return x + 1\n```\nThat's it.";
        Assert.Equal("def f(x):\n    return x + 1", CodeExtraction.Extract(completion));
    }

    [Fact]
    public void Without_a_fence_the_whole_text_is_code()
    {
        Assert.Equal("def f(x):\n    return x", CodeExtraction.Extract("def f(x):\n    return x"));
    }

    [Theory]
    [InlineData("\n# Test\nprint(f(1))")]
    [InlineData("\nif __name__ == '__main__':\n    f(1)")]
    [InlineData("\nassert f(1) == 2")]
    [InlineData("\nprint(f(1))")]
    [InlineData("\n```\nmore prose")]
    [InlineData("\ncheck(f)")]
    public void Code_is_cut_at_the_first_stop_sequence(string tail)
    {
        string code = "def f(x):\n    if x:\n        return x + 1\n    return 0";
        Assert.Equal(code, CodeExtraction.Extract("```python\n" + code + tail + "\nprint('later')"));
    }

    [Fact]
    public void The_earliest_stop_sequence_wins()
    {
        Assert.Equal("a = 1", CodeExtraction.Extract("```py\na = 1\nprint(a)\nassert a\n```"));
    }

    [Theory]
    [InlineData("3 * 5 = 15\n15 + 4 = 19\nanswer 19", 19, true)]
    [InlineData("5 - 7 = -2\nso -2", -2, true)]
    [InlineData("the answer is \\boxed{19} not 20", 19, true)]
    [InlineData("\\boxed{12} then \\boxed{19}", 19, true)]
    [InlineData("\\boxed{x} but 19", 19, false)] // a box without a number is the answer: no fallback
    [InlineData("no number here", 1, false)]
    [InlineData("19.5", 5, true)] // integers only, as corpus.check_math: "19.5" ends in the integer 5
    public void Heldout_math_matches_corpus_check_math(string text, long answer, bool expected)
    {
        Assert.Equal(expected, MathAnswers.CheckHeldout(text, answer));
    }

    [Theory]
    [InlineData("She makes 9 * 2 = $18 every day.", "18", true)]
    [InlineData("so the total is 1,234 dollars", "1234", true)]
    [InlineData("\\boxed{18} (and not 20)", "18", true)]
    [InlineData("The answer is 18.00", "18", true)]
    [InlineData("The answer is 17", "18", false)]
    [InlineData("no number", "18", false)]
    public void Gsm8k_compares_the_final_number(string text, string answer, bool expected)
    {
        Assert.Equal(expected, MathAnswers.CheckGsm8k(text, answer));
    }

    [Fact]
    public void Boxed_content_keeps_nested_braces()
    {
        Assert.Equal("\\frac{\\pi}{2}", MathAnswers.LastBoxed("so \\boxed{1} or rather \\boxed{\\frac{\\pi}{2}}."));
        Assert.Null(MathAnswers.LastBoxed("no box"));
        Assert.Equal("3", MathAnswers.LastBoxed("\\boxed{3} and \\boxed{unclosed"));
    }

    [Theory]
    [InlineData("\\left( 3, \\frac{\\pi}{2} \\right)", "(3,\\frac{\\pi}{2})")]
    [InlineData("$\\dfrac{1}{2}$", "\\frac{1}{2}")]
    [InlineData("10.0", "10")]
    [InlineData("\\!1,\\!000", "1,000")]
    [InlineData("x + y", "x+y")]
    public void Math500_normalisation(string input, string expected)
    {
        Assert.Equal(expected, MathAnswers.Normalize(input));
    }

    [Fact]
    public void Math500_compares_the_boxed_answer_after_normalisation()
    {
        Assert.True(MathAnswers.CheckMath500("so $r=3$: \\boxed{\\left( 3, \\dfrac{\\pi}{2} \\right)}", "\\left( 3, \\frac{\\pi}{2} \\right)"));
        Assert.True(MathAnswers.CheckMath500("\\boxed{10.0}", "10"));
        Assert.False(MathAnswers.CheckMath500("\\boxed{11}", "10"));
        Assert.False(MathAnswers.CheckMath500("10", "10")); // no box, no answer
    }

    [Fact]
    public void Mbpp_prompt_is_the_first_docstring_line_and_its_assertion()
    {
        string prompt = "\"\"\"\nWrite a function to find the shared elements from the given two lists.\nassert set(similar_elements((3, 4, 5, 6),(5, 7, 4, 10))) == set((4, 5))\n\"\"\"\n";
        (string description, string example) = EvalSet.MbppPromptParts(prompt, "assert fallback");
        Assert.Equal("Write a function to find the shared elements from the given two lists.", description);
        Assert.Equal("assert set(similar_elements((3, 4, 5, 6),(5, 7, 4, 10))) == set((4, 5))", example);
    }
}
