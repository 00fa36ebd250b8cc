using System.Text;
using System.Text.RegularExpressions;
using MeDlm.Tests.Generation;

namespace MeDlm.Tests;

/// <summary>
/// Every citation of the design in code and docs names docs/DESIGN.md and a section that exists there,
/// so a renumbered or removed section fails here instead of leaving comments that point nowhere.
/// </summary>
public partial class DesignReferenceTests
{
    private const string DesignFile = "docs/DESIGN.md";

    private static readonly string[] Roots = ["src", "tests", "export", "onnx", "docs"];
    private static readonly string[] TopLevelFiles = ["README.md"];
    private static readonly string[] Extensions = [".cs", ".py", ".md"];
    private static readonly string[] SkippedFolders = ["bin", "obj", "node_modules", "runs", ".git", "__pycache__"];

    [GeneratedRegex(@"^#{2,3} §(\d+(?:\.\d+)*) ", RegexOptions.Multiline)]
    private static partial Regex Heading();

    [GeneratedRegex(@"§(\d+(?:\.\d+)*)")]
    private static partial Regex SectionCitation();

    // The old spec's form: the word DESIGN followed by a section sign, the word section or 's, without the file.
    [GeneratedRegex(@"\bDESIGN(?!\.md)\s*(?:§|section\b|'s\b)")]
    private static partial Regex BareCitation();

    [Fact]
    public void The_design_has_numbered_sections()
    {
        HashSet<string> sections = Sections();
        foreach (string required in new[] { "1", "2", "2.3", "3", "3.4", "4", "5", "8", "9" })
        {
            Assert.Contains(required, sections);
        }
    }

    [Fact]
    public void Every_design_citation_names_the_file_and_an_existing_section()
    {
        HashSet<string> sections = Sections();
        var problems = new StringBuilder();
        int citations = 0;
        foreach (string file in FilesToScan())
        {
            string relative = Path.GetRelativePath(TestModels.RepoRoot, file).Replace('\\', '/');
            if (relative == DesignFile)
            {
                continue;
            }
            string[] lines = File.ReadAllLines(file);
            for (int i = 0; i < lines.Length; i++)
            {
                string line = lines[i];
                if (!line.Contains("DESIGN", StringComparison.Ordinal))
                {
                    continue;
                }
                if (BareCitation().IsMatch(line))
                {
                    problems.AppendLine($"{relative}:{i + 1}: cite {DesignFile} by its path: {line.Trim()}");
                }
                foreach (Match m in SectionCitation().Matches(line))
                {
                    citations++;
                    if (!sections.Contains(m.Groups[1].Value))
                    {
                        problems.AppendLine($"{relative}:{i + 1}: {DesignFile} has no section §{m.Groups[1].Value}: {line.Trim()}");
                    }
                }
            }
        }
        Assert.True(problems.Length == 0, problems.ToString());
        Assert.True(citations > 10, $"only {citations} section citations found: is the scan looking at the tree?");
    }

    private static HashSet<string> Sections()
    {
        string path = Path.Combine(TestModels.RepoRoot, DesignFile);
        Assert.True(File.Exists(path), $"{path} is missing");
        var sections = new HashSet<string>(StringComparer.Ordinal);
        foreach (Match m in Heading().Matches(File.ReadAllText(path)))
        {
            sections.Add(m.Groups[1].Value);
        }
        return sections;
    }

    private static IEnumerable<string> FilesToScan()
    {
        string root = TestModels.RepoRoot;
        foreach (string name in TopLevelFiles)
        {
            yield return Path.Combine(root, name);
        }
        var pending = new Stack<string>();
        foreach (string folder in Roots)
        {
            string full = Path.Combine(root, folder);
            if (Directory.Exists(full))
            {
                pending.Push(full);
            }
        }
        while (pending.Count > 0)
        {
            string dir = pending.Pop();
            foreach (string sub in Directory.EnumerateDirectories(dir))
            {
                if (Array.IndexOf(SkippedFolders, Path.GetFileName(sub)) < 0)
                {
                    pending.Push(sub);
                }
            }
            foreach (string file in Directory.EnumerateFiles(dir))
            {
                if (Array.IndexOf(Extensions, Path.GetExtension(file)) >= 0)
                {
                    yield return file;
                }
            }
        }
    }
}
