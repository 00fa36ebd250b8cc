using System.Globalization;
using Xunit.Abstractions;

namespace MeDlm.Server.Tests;

/// <summary>
/// The playground page in a real headless Chromium against the real server on loopback: what it shows
/// must be what the API answers for the same request.
/// </summary>
[Collection(SharedServerCollection.Name)]
public sealed class PlaygroundBrowserTests(SharedServer shared, ITestOutputHelper output)
{
    // In-domain prompt that the bundled model drafts wrongly at budget 1/8 and repairs with an edit round.
    private const string Prompt = "write count_gt(data) with k = 7";
    private const string SameRequest = """{"messages":[{"role":"user","content":"write count_gt(data) with k = 7"}],"max_tokens":48,"temperature":0,"medlm":{"algorithm":"medlm","budget":"1/8"}}""";

    /// <summary>Where the screenshots go (under the test binaries; CI keeps them as artifacts).</summary>
    public static string ArtifactDirectory => Path.Combine(AppContext.BaseDirectory, "artifacts", "playground");

    private LoopbackServer Server => shared.Server;

    // Counts every canvas cell the page ever draws, by kind, so that marks shown for a moment count too.
    private const string RecordMarks = """
        (() => {
          window.__marks = { commit: 0, replace: 0, delete: 0, insert: 0, mask: 0 };
          new MutationObserver((records) => {
            for (const r of records) {
              for (const n of r.addedNodes) {
                if (n.nodeType !== 1 || !n.classList.contains("tok")) continue;
                for (const k of Object.keys(window.__marks)) if (n.classList.contains(k)) window.__marks[k]++;
              }
            }
          }).observe(document.getElementById("runs"), { childList: true, subtree: true });
          return true;
        })()
        """;

    private const string ReadStats = """
        [...document.querySelectorAll(".run")].map((run) => ({
          state: run.dataset.state,
          title: run.querySelector(".run-title").textContent,
          answer: run.querySelector(".answer").textContent,
          mismatch: !run.querySelector(".mismatch").hidden,
          steps: run.querySelectorAll(".timeline button").length,
          stats: Object.fromEntries([...run.querySelectorAll("[data-stat]")].map((d) => [d.dataset.stat, d.textContent])),
        }))
        """;

    [Fact]
    public async Task The_page_streams_a_budget_one_eighth_run_with_its_edits_and_shows_the_answer_and_stats_the_api_gives()
    {
        JsonElement api = await Server.PostOkAsync("v1/chat/completions", SameRequest);
        string expected = api.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString()!;
        JsonElement stats = api.GetProperty("medlm")[0];
        int replaced = stats.GetProperty("edits").GetProperty("replace").GetInt32();
        Assert.True(replaced >= 1, "The prompt must be one the bundled model repairs with a replacement at budget 1/8: " + stats.GetRawText());

        await using HeadlessChromium browser = await HeadlessChromium.StartAsync(1280, 900);
        await browser.NavigateAsync(Server.BaseAddress);
        await browser.WaitForAsync("document.body.dataset.ready === 'true'", TimeSpan.FromSeconds(30));
        // The settings start at the model's defaults (manifest generation section).
        Assert.Equal("48", (await browser.EvaluateAsync("document.getElementById('gen-length').value")).GetString());
        Assert.Equal("1", (await browser.EvaluateAsync("document.getElementById('budget').value")).GetString());
        Assert.Equal("medlm", (await browser.EvaluateAsync("document.getElementById('algorithm').value")).GetString());
        Assert.True((await browser.EvaluateAsync("document.getElementById('api-key-label').hidden")).GetBoolean());
        Assert.True((await browser.EvaluateAsync(RecordMarks)).GetBoolean());

        // Typed as a user would, submitted with Ctrl+Enter from the prompt box.
        await browser.EvaluateAsync("(() => { const b = document.getElementById('budget'); b.focus(); b.select(); })()");
        await browser.InsertTextAsync("1/8");
        await browser.EvaluateAsync("(() => { const p = document.getElementById('prompt'); p.focus(); p.select(); })()");
        await browser.InsertTextAsync(Prompt);
        await browser.PressKeyAsync("Enter", modifiers: 2);
        await browser.WaitForAsync("(() => { const r = document.querySelector('.run'); return !!r && (r.dataset.state === 'done' || r.dataset.state === 'error'); })()",
            TimeSpan.FromSeconds(60));

        JsonElement run = Assert.Single((await browser.EvaluateAsync(ReadStats)).EnumerateArray());
        Assert.True(run.GetProperty("state").GetString() == "done", "The page reported: " + await browser.EvaluateAsync("document.getElementById('error').textContent"));
        Assert.Equal(expected, run.GetProperty("answer").GetString());
        Assert.False(run.GetProperty("mismatch").GetBoolean());

        JsonElement shown = run.GetProperty("stats");
        string Stat(string key) => shown.GetProperty(key).GetString()!;
        int passes = stats.GetProperty("forward_passes").GetInt32();
        Assert.Equal(passes.ToString(CultureInfo.InvariantCulture), Stat("forward_passes"));
        Assert.Equal(stats.GetProperty("mask_steps").GetInt32().ToString(CultureInfo.InvariantCulture), Stat("mask_steps"));
        Assert.Equal(stats.GetProperty("edit_rounds").GetInt32().ToString(CultureInfo.InvariantCulture), Stat("edit_rounds"));
        Assert.Equal(stats.GetProperty("edit_rounds_saved").GetInt32().ToString(CultureInfo.InvariantCulture), Stat("edit_rounds_saved"));
        foreach (string kind in new[] { "replace", "delete", "insert" })
        {
            Assert.Equal(stats.GetProperty("edits").GetProperty(kind).GetInt32().ToString(CultureInfo.InvariantCulture), Stat("edits." + kind));
        }
        int completionTokens = api.GetProperty("usage").GetProperty("completion_tokens").GetInt32();
        Assert.Equal(completionTokens.ToString(CultureInfo.InvariantCulture), Stat("completion_tokens"));
        Assert.Equal(((double)completionTokens / passes).ToString("F2", CultureInfo.InvariantCulture), Stat("tokens_per_pass"));
        Assert.Equal("stop", Stat("finish_reason"));
        // One timeline entry per forward pass, plus the between-stages transition.
        Assert.Equal(passes + 1, run.GetProperty("steps").GetInt32());

        // Every position was drawn committed once; the edit round's replacement was drawn as one.
        JsonElement marks = await browser.EvaluateAsync("window.__marks");
        Assert.Equal(48, marks.GetProperty("commit").GetInt32());
        Assert.Equal(replaced, marks.GetProperty("replace").GetInt32());
        Assert.True(marks.GetProperty("mask").GetInt32() > 0);

        // Keyboard: from the timeline's current entry, Home goes to pass 1, arrows step to the first edit round.
        await browser.EvaluateAsync("document.querySelector('.timeline button[aria-current=\"step\"]').focus()");
        await browser.PressKeyAsync("Home");
        Assert.Equal("pass 1, mask step 1", (await browser.EvaluateAsync("document.activeElement.getAttribute('aria-label')")).GetString());
        await browser.PressKeyAsync("ArrowRight");
        // Pass 2: the masks still open are drawn as masks, the pass's commits highlighted.
        JsonElement second = await browser.EvaluateAsync("[document.querySelectorAll('.canvas .tok.mask').length, document.querySelectorAll('.canvas .tok.commit').length]");
        Assert.True(second[0].GetInt32() > 0 && second[1].GetInt32() > 0, second.GetRawText());
        await browser.ScreenshotAsync(Path.Combine(ArtifactDirectory, "playground-mask-step.png"));
        await browser.PressKeyAsync("ArrowLeft");
        int firstEdit = stats.GetProperty("mask_steps").GetInt32() + 1;
        for (int i = 0; i < firstEdit; i++)
        {
            await browser.PressKeyAsync("ArrowRight");
        }
        Assert.Equal("pass " + firstEdit + ", edit round 1", (await browser.EvaluateAsync("document.activeElement.getAttribute('aria-label')")).GetString());
        Assert.Equal(replaced, (await browser.EvaluateAsync("document.querySelectorAll('.canvas .tok.replace del.old').length")).GetInt32());
        Assert.Equal(replaced, (await browser.EvaluateAsync("document.querySelectorAll('.canvas .tok.replace ins').length")).GetInt32());

        await ScreenshotAsync(browser, "playground-edit-round.png");

        // A phone-sized screen: nothing wider than the screen.
        await browser.SetViewportAsync(390, 844, mobile: true);
        await browser.WaitForAsync("document.documentElement.scrollWidth <= 390", TimeSpan.FromSeconds(5));
        await ScreenshotAsync(browser, "playground-narrow.png");

        AssertNoConsoleErrors(browser);
    }

    [Fact]
    public async Task Compare_mode_runs_mask_only_and_mask_plus_edit_at_the_same_budget_side_by_side()
    {
        JsonElement withEdits = await Server.PostOkAsync("v1/chat/completions", SameRequest);
        int passes = withEdits.GetProperty("medlm")[0].GetProperty("forward_passes").GetInt32();
        // Mask-only at the same budget: all of the budget's passes are mask steps.
        JsonElement maskOnly = await Server.PostOkAsync("v1/chat/completions",
            $$$"""{"messages":[{"role":"user","content":"{{{Prompt}}}"}],"max_tokens":48,"temperature":0,"medlm":{"algorithm":"medlm","mask_steps":{{{passes}}},"edit_rounds":0}}""");

        await using HeadlessChromium browser = await HeadlessChromium.StartAsync(1280, 900);
        await browser.NavigateAsync(Server.BaseAddress);
        await browser.WaitForAsync("document.body.dataset.ready === 'true'", TimeSpan.FromSeconds(30));
        await browser.EvaluateAsync("(() => { const b = document.getElementById('budget'); b.focus(); b.select(); })()");
        await browser.InsertTextAsync("1/8");
        // The compare switch and the button, by keyboard.
        await browser.EvaluateAsync("document.getElementById('compare').focus()");
        await browser.PressKeyAsync(" ");
        Assert.True((await browser.EvaluateAsync("document.getElementById('compare').checked")).GetBoolean());
        await browser.EvaluateAsync("document.getElementById('run').focus()");
        await browser.PressKeyAsync("Enter");
        await browser.WaitForAsync("document.querySelectorAll('.run').length === 2 && [...document.querySelectorAll('.run')].every((r) => r.dataset.state === 'done' || r.dataset.state === 'error')",
            TimeSpan.FromSeconds(60));

        JsonElement[] runs = [.. (await browser.EvaluateAsync(ReadStats)).EnumerateArray()];
        Assert.Equal(2, runs.Length);
        Assert.All(runs, r => Assert.Equal("done", r.GetProperty("state").GetString()));
        Assert.StartsWith("Mask + edit", runs[0].GetProperty("title").GetString(), StringComparison.Ordinal);
        Assert.StartsWith("Mask only", runs[1].GetProperty("title").GetString(), StringComparison.Ordinal);
        Assert.Equal(withEdits.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString(), runs[0].GetProperty("answer").GetString());
        Assert.Equal(maskOnly.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString(), runs[1].GetProperty("answer").GetString());
        string p = passes.ToString(CultureInfo.InvariantCulture);
        Assert.Equal(p, runs[0].GetProperty("stats").GetProperty("forward_passes").GetString());
        Assert.Equal(p, runs[1].GetProperty("stats").GetProperty("forward_passes").GetString());
        Assert.Equal(p, runs[1].GetProperty("stats").GetProperty("mask_steps").GetString());
        Assert.Equal("0", runs[1].GetProperty("stats").GetProperty("edit_rounds").GetString());
        Assert.All(runs, r => Assert.False(r.GetProperty("mismatch").GetBoolean()));

        // The mask + edit side at its first edit round (a click on the timeline), next to the mask-only answer.
        int firstEdit = withEdits.GetProperty("medlm")[0].GetProperty("mask_steps").GetInt32() + 1;
        await browser.EvaluateAsync($"document.querySelectorAll('.run')[0].querySelectorAll('.timeline button')[{firstEdit}].click()");
        Assert.Equal(withEdits.GetProperty("medlm")[0].GetProperty("edits").GetProperty("replace").GetInt32(),
            (await browser.EvaluateAsync("document.querySelectorAll('.run')[0].querySelectorAll('.canvas .tok.replace').length")).GetInt32());

        await ScreenshotAsync(browser, "playground-compare.png");
        AssertNoConsoleErrors(browser);
    }

    [Fact]
    public async Task Stop_cancels_the_running_request_and_the_page_runs_again_afterwards()
    {
        await using HeadlessChromium browser = await HeadlessChromium.StartAsync(1280, 900);
        await browser.NavigateAsync(Server.BaseAddress);
        await browser.WaitForAsync("document.body.dataset.ready === 'true'", TimeSpan.FromSeconds(30));
        Assert.True((await browser.EvaluateAsync("document.getElementById('stop').disabled")).GetBoolean());
        // Generate sends the request before it yields, so Stop right after it always finds it running.
        await browser.EvaluateAsync("(() => { document.getElementById('run').click(); document.getElementById('stop').click(); })()");
        await browser.WaitForAsync("document.querySelector('.run')?.dataset.state === 'stopped'", TimeSpan.FromSeconds(30));
        await browser.WaitForAsync("!document.getElementById('run').disabled && document.getElementById('stop').disabled", TimeSpan.FromSeconds(5));
        Assert.True((await browser.EvaluateAsync("document.getElementById('error').hidden")).GetBoolean());

        await browser.EvaluateAsync("document.getElementById('run').click()");
        await browser.WaitForAsync("document.querySelector('.run')?.dataset.state === 'done'", TimeSpan.FromSeconds(60));
        AssertNoConsoleErrors(browser);
    }

    [Fact]
    public async Task With_an_api_key_the_page_asks_for_it_and_works_once_given()
    {
        await using LoopbackServer server = await LoopbackServer.StartAsync(["Auth:ApiKey=pg-s3cret"]);
        await using HeadlessChromium browser = await HeadlessChromium.StartAsync(1280, 900);
        await browser.NavigateAsync(server.BaseAddress);
        await browser.WaitForAsync("!document.getElementById('api-key-label').hidden", TimeSpan.FromSeconds(30));
        Assert.NotEqual("true", (await browser.EvaluateAsync("document.body.dataset.ready ?? ''")).GetString());

        await browser.EvaluateAsync("document.getElementById('api-key').focus()");
        await browser.InsertTextAsync("pg-s3cret");
        await browser.PressKeyAsync("Tab");
        await browser.WaitForAsync("document.body.dataset.ready === 'true'", TimeSpan.FromSeconds(30));
        await browser.EvaluateAsync("(() => { const g = document.getElementById('gen-length'); g.focus(); g.select(); })()");
        await browser.InsertTextAsync("16");
        await browser.EvaluateAsync("document.getElementById('run').click()");
        await browser.WaitForAsync("document.querySelector('.run')?.dataset.state === 'done'", TimeSpan.FromSeconds(60));
        Assert.NotEqual("", (await browser.EvaluateAsync("document.querySelector('.run .answer').textContent")).GetString());

        // The 401 of the first model request is the only error the browser may log (it logs failed loads itself).
        Assert.All(browser.Errors, e => Assert.Contains("401", e, StringComparison.Ordinal));
    }

    /// <summary>Saves a screenshot under the artifacts folder (CI keeps it) and names it in the test output.</summary>
    private async Task ScreenshotAsync(HeadlessChromium browser, string fileName)
    {
        string path = Path.Combine(ArtifactDirectory, fileName);
        await browser.ScreenshotAsync(path);
        output.WriteLine("screenshot: " + path);
    }

    private static void AssertNoConsoleErrors(HeadlessChromium browser) =>
        Assert.True(browser.Errors.IsEmpty, "Console errors: " + string.Join("\n", browser.Errors));
}
