// MeDlm playground: sends a chat request to this server's /v1/chat/completions with
// medlm.stream_denoising and draws every streamed step of the canvas. Plain script, no dependencies.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const page = {
    model: null,        // the /v1/models card
    apiKey: "",         // kept in memory only
    runs: [],
    busy: false,
    replayTimer: 0,
    abort: null,        // AbortController of the running requests
  };

  // ---- API -------------------------------------------------------------------------------------

  function headers() {
    const h = { "Content-Type": "application/json" };
    if (page.apiKey) {
      h.Authorization = "Bearer " + page.apiKey;
    }
    return h;
  }

  async function errorText(response) {
    try {
      const body = await response.json();
      if (body && body.error && body.error.message) {
        return body.error.message;
      }
    } catch (_) {
      // Not JSON: fall back to the status.
    }
    return `The server answered ${response.status} ${response.statusText}.`;
  }

  function showKeyField(message) {
    $("api-key-label").hidden = false;
    $("model-status").textContent = message;
  }

  async function loadModel() {
    let response;
    try {
      response = await fetch("/v1/models", { headers: headers() });
    } catch (_) {
      $("model-status").textContent = "The server cannot be reached; retrying\u2026";
      setTimeout(loadModel, 2000);
      return;
    }
    if (response.status === 401) {
      showKeyField(page.apiKey ? "That API key was refused; enter the server's key." : "This server needs an API key: enter it under Settings.");
      return;
    }
    if (response.status === 503) {
      $("model-status").textContent = "The model is loading\u2026";
      setTimeout(loadModel, 1000);
      return;
    }
    if (!response.ok) {
      $("model-status").textContent = await errorText(response);
      return;
    }
    const list = await response.json();
    page.model = list.data[0];
    const d = page.model.medlm;
    $("budget").value = formatNumber(d.budget);
    $("algorithm").value = d.algorithm;
    $("threshold").value = formatNumber(d.threshold);
    $("temperature").value = formatNumber(d.temperature);
    $("gen-length").value = String(d.gen_length);
    $("gen-length").max = String(d.context_length - 1);
    $("edit-rounds").disabled = !d.edit_head;
    $("compare").disabled = !d.edit_head;
    $("model-status").textContent = `${page.model.id} \u00b7 context ${d.context_length} tokens \u00b7 ` +
      (d.edit_head ? "edit head" : "no edit head (mask-only)");
    updateThreshold();
    updatePlan();
    document.body.dataset.ready = "true";
  }

  // ---- settings --------------------------------------------------------------------------------

  function formatNumber(x) {
    return String(Math.round(x * 1e6) / 1e6);
  }

  /** The budget as a number: "1/8", "0.125" or "" (the model's default). NaN when unreadable. */
  function budgetValue(text) {
    const t = text.trim();
    if (t === "") {
      return page.model.medlm.budget;
    }
    const fraction = /^(\d+)\s*\/\s*(\d+)$/.exec(t);
    return fraction ? Number(fraction[1]) / Number(fraction[2]) : Number(t);
  }

  function genLengthValue() {
    const t = $("gen-length").value.trim();
    return t === "" ? page.model.medlm.gen_length : Number(t);
  }

  /** Forward passes of a budget, split into mask steps and edit rounds as the server does (DESIGN §2). */
  function budgetSplit(genLength, budget, editShare) {
    const total = Math.max(1, Math.floor(genLength * budget + 0.5));
    const edits = Math.floor(total * editShare + 0.5);
    const masks = Math.max(1, total - edits);
    return { total, masks, edits: total - masks };
  }

  function updateThreshold() {
    $("threshold").disabled = $("algorithm").value !== "threshold";
  }

  function updatePlan() {
    if (!page.model) {
      return;
    }
    const g = genLengthValue();
    const b = budgetValue($("budget").value);
    const out = $("budget-plan");
    if (!(Number.isInteger(g) && g > 0 && b > 0 && b <= 1)) {
      out.textContent = "Budget: a fraction in (0, 1], such as 1/8 or 0.125.";
      return;
    }
    const s = budgetSplit(g, b, page.model.medlm.edit_share);
    $("edit-rounds").placeholder = `${s.edits} (budget)`;
    const rounds = $("edit-rounds").value.trim();
    const editText = rounds === "" ? `${s.edits} edit rounds` : `${rounds} edit rounds (set)`;
    out.textContent = `Budget = forward passes / positions: ${s.total} passes for ${g} positions, ${s.masks} mask steps + ${editText}` +
      ($("algorithm").value === "threshold" ? " (threshold: mask steps vary)" : "") + ".";
  }

  function numberOrText(text) {
    const n = Number(text);
    return text.trim() !== "" && Number.isFinite(n) ? n : text;
  }

  /** The request body of one run; variant "edit" is the settings as given, "mask" the mask-only twin. */
  function requestBody(variant) {
    const medlm = { stream_denoising: true, algorithm: $("algorithm").value };
    const budget = $("budget").value.trim();
    if (budget !== "") {
      medlm.budget = /\//.test(budget) ? budget : numberOrText(budget);
    }
    if (medlm.algorithm === "threshold" && $("threshold").value.trim() !== "") {
      medlm.threshold = numberOrText($("threshold").value);
    }
    const rounds = $("edit-rounds").value.trim();
    if (rounds !== "" && !$("edit-rounds").disabled) {
      medlm.edit_rounds = numberOrText(rounds);
    }
    if (variant === "mask") {
      // The same number of forward passes, all of them mask steps.
      const s = budgetSplit(genLengthValue(), budgetValue(budget), 0);
      delete medlm.budget;
      medlm.mask_steps = s.total;
      medlm.edit_rounds = 0;
    }
    const body = {
      model: page.model.id,
      messages: [{ role: "user", content: $("prompt").value }],
      stream: true,
      stream_options: { include_usage: true },
      medlm,
    };
    for (const [id, field] of [["temperature", "temperature"], ["seed", "seed"], ["gen-length", "max_tokens"]]) {
      const v = $(id).value.trim();
      if (v !== "") {
        body[field] = numberOrText(v);
      }
    }
    return body;
  }

  // ---- runs ------------------------------------------------------------------------------------

  function newRun(title) {
    const node = $("run-template").content.firstElementChild.cloneNode(true);
    node.querySelector(".run-title").textContent = title;
    $("runs").append(node);
    const run = {
      node,
      steps: [],          // { step, stage, stagePass, tokens, changes, cells, masksLeft, committed, edits }
      shown: -1,          // index of the step on the canvas
      follow: true,       // show each new step as it arrives
      answer: "",
      stats: null,
      usage: null,
      finish: null,
      started: performance.now(),
      wallMs: 0,
    };
    const timeline = node.querySelector(".timeline");
    timeline.addEventListener("keydown", (e) => timelineKey(run, e));
    return run;
  }

  function setState(run, state) {
    run.node.dataset.state = state;
  }

  async function streamRun(run, body) {
    setState(run, "running");
    const response = await fetch("/v1/chat/completions", {
      method: "POST", headers: headers(), body: JSON.stringify(body), signal: page.abort.signal,
    });
    if (!response.ok) {
      if (response.status === 401) {
        showKeyField("This server needs an API key: enter it under Settings.");
      }
      throw new Error(await errorText(response));
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    let done = false;
    while (!done) {
      const { value, done: ended } = await reader.read();
      if (ended) {
        break;
      }
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        for (const line of event.split("\n")) {
          if (!line.startsWith("data: ")) {
            continue;
          }
          const data = line.slice(6);
          if (data === "[DONE]") {
            done = true;
          } else {
            onChunk(run, JSON.parse(data));
          }
        }
      }
    }
    if (!done) {
      throw new Error("The stream ended before [DONE].");
    }
    run.wallMs = performance.now() - run.started;
  }

  function onChunk(run, chunk) {
    if (chunk.error) {
      throw new Error(chunk.error.message || "The server reported an error.");
    }
    if (chunk.usage) {
      run.usage = chunk.usage;
    }
    const choice = chunk.choices && chunk.choices[0];
    if (!choice) {
      return;
    }
    if (choice.finish_reason) {
      run.finish = choice.finish_reason;
      run.stats = chunk.medlm || null;
      return;
    }
    if (chunk.medlm && chunk.medlm.tokens) {
      addStep(run, chunk.medlm);
    }
    if (choice.delta && choice.delta.content) {
      run.answer += choice.delta.content;
    }
  }

  function addStep(run, s) {
    const previous = run.steps.length > 0 ? run.steps[run.steps.length - 1] : null;
    const stagePass = run.steps.filter((x) => x.stage === s.stage).length + 1;
    const step = {
      step: s.step,
      stage: s.stage,
      stagePass,
      tokens: s.tokens,
      changes: s.changes,
      masksLeft: s.masks_left,
      committed: s.committed,
      edits: s.edits || null,
      cells: cellsOf(previous ? previous.tokens.length : s.tokens.length, s),
    };
    run.steps.push(step);
    addTimelineButton(run, run.steps.length - 1);
    if (run.follow) {
      show(run, run.steps.length - 1);
    }
  }

  /**
   * What the canvas shows for a step: every position after it, in order, with the deleted positions of
   * the canvas before it put back where they were (struck through).
   */
  function cellsOf(previousLength, s) {
    const committed = new Set();
    const inserted = new Set();
    const replaced = new Map();
    const deleted = new Map();
    for (const c of s.changes) {
      switch (c.kind) {
        case "commit": committed.add(c.position); break;
        case "insert": inserted.add(c.position); break;
        case "replace": replaced.set(c.position, c.old); break;
        case "delete": deleted.set(c.position, c.old); break;
        default: break;
      }
    }
    const cells = [];
    let before = 0;
    let after = 0;
    while (before < previousLength || after < s.tokens.length) {
      if (deleted.has(before)) {
        cells.push({ kind: "delete", text: deleted.get(before), position: before });
        before++;
      } else if (after < s.tokens.length && inserted.has(after)) {
        cells.push({ kind: "insert", text: s.tokens[after], position: after });
        after++;
      } else if (after < s.tokens.length) {
        const kind = replaced.has(after) ? "replace" : committed.has(after) ? "commit" : "";
        cells.push({ kind, text: s.tokens[after], old: replaced.get(after), position: after });
        before++;
        after++;
      } else {
        before++;
      }
    }
    return cells;
  }

  function specialKind(text) {
    const t = page.model.medlm.special_tokens;
    return text === t.mask ? "mask" : text === t.pad ? "pad" : text === t.end ? "end" : null;
  }

  function quote(text) {
    return "\u201c" + text.replace(/\n/g, "\u21b5") + "\u201d";
  }

  function renderCell(cell) {
    const span = document.createElement("span");
    span.className = "tok";
    const special = specialKind(cell.text);
    const shown = special === "pad" ? "pad" : special === "end" ? "end" : cell.text;
    if (special === "mask") {
      span.classList.add("mask");
      span.title = `position ${cell.position}: masked`;
      return span;
    }
    if (special) {
      span.classList.add("special");
    }
    switch (cell.kind) {
      case "delete": {
        span.classList.add("delete");
        const del = document.createElement("del");
        del.textContent = specialKind(cell.text) ? specialKind(cell.text) : cell.text;
        span.append(del);
        span.title = `position ${cell.position} (before): deleted ${quote(cell.text)}`;
        return span;
      }
      case "insert": {
        span.classList.add("insert");
        const ins = document.createElement("ins");
        ins.textContent = shown;
        span.append(ins);
        span.title = `position ${cell.position}: inserted ${quote(cell.text)}`;
        return span;
      }
      case "replace": {
        span.classList.add("replace");
        const del = document.createElement("del");
        del.className = "old";
        del.textContent = cell.old;
        const ins = document.createElement("ins");
        ins.textContent = shown;
        span.append(del, ins);
        span.title = `position ${cell.position}: replaced ${quote(cell.old)} with ${quote(cell.text)}`;
        return span;
      }
      case "commit":
        span.classList.add("commit");
        span.title = `position ${cell.position}: committed ${quote(cell.text)}`;
        break;
      default:
        span.title = `position ${cell.position}`;
        break;
    }
    span.textContent = shown;
    return span;
  }

  function stageName(step) {
    switch (step.stage) {
      case "mask": return `mask step ${step.stagePass}`;
      case "transition": return "transition";
      default: return `edit round ${step.stagePass}`;
    }
  }

  function describe(step) {
    if (step.stage === "mask") {
      return `Pass ${step.step} \u00b7 ${stageName(step)}: ${step.committed} committed, ${step.masksLeft} masks left, ${step.tokens.length} positions`;
    }
    const e = step.edits || { replace: 0, delete: 0, insert: 0 };
    if (step.stage === "transition") {
      return `After pass ${step.step} \u00b7 transition (padding dropped, end marker last): ${e.delete} deleted, ${e.insert} inserted, ${step.tokens.length} positions`;
    }
    return `Pass ${step.step} \u00b7 ${stageName(step)}: ${e.replace} replaced, ${e.delete} deleted, ${e.insert} inserted, ${step.tokens.length} positions`;
  }

  function addTimelineButton(run, index) {
    const step = run.steps[index];
    const li = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.className = step.stage;
    button.tabIndex = -1;
    button.setAttribute("aria-label", `pass ${step.step}, ${stageName(step)}`);
    button.append(String(step.step));
    const stage = document.createElement("span");
    stage.className = "stage";
    stage.textContent = step.stage === "mask" ? "M" + step.stagePass : step.stage === "edit" ? "E" + step.stagePass : "T";
    button.append(stage);
    button.addEventListener("click", () => {
      run.follow = false;
      show(run, index);
    });
    li.append(button);
    run.node.querySelector(".timeline").append(li);
  }

  function show(run, index) {
    const step = run.steps[index];
    run.shown = index;
    const canvas = run.node.querySelector(".canvas");
    const fragment = document.createDocumentFragment();
    for (const cell of step.cells) {
      fragment.append(renderCell(cell));
    }
    canvas.replaceChildren(fragment);
    canvas.setAttribute("aria-label", describe(step));
    run.node.querySelector(".counter").textContent = describe(step);
    const buttons = run.node.querySelectorAll(".timeline button");
    buttons.forEach((b, i) => {
      const current = i === index;
      b.tabIndex = current ? 0 : -1;
      if (current) {
        b.setAttribute("aria-current", "step");
      } else {
        b.removeAttribute("aria-current");
      }
    });
  }

  function timelineKey(run, e) {
    if (run.steps.length === 0) {
      return;
    }
    const moves = { ArrowLeft: -1, ArrowUp: -1, ArrowRight: 1, ArrowDown: 1 };
    let target;
    if (e.key in moves) {
      target = Math.min(run.steps.length - 1, Math.max(0, run.shown + moves[e.key]));
    } else if (e.key === "Home") {
      target = 0;
    } else if (e.key === "End") {
      target = run.steps.length - 1;
    } else {
      return;
    }
    e.preventDefault();
    run.follow = false;
    show(run, target);
    run.node.querySelectorAll(".timeline button")[target].focus();
  }

  // ---- stats -----------------------------------------------------------------------------------

  function addStat(dl, label, key, value) {
    const dt = document.createElement("dt");
    dt.textContent = label;
    const dd = document.createElement("dd");
    dd.dataset.stat = key;
    dd.textContent = String(value);
    dl.append(dt, dd);
  }

  function showStats(run) {
    const dl = run.node.querySelector(".stats");
    dl.replaceChildren();
    // Counted from the streamed steps; the finish chunk's statistics must agree.
    const maskSteps = run.steps.filter((s) => s.stage === "mask").length;
    const editSteps = run.steps.filter((s) => s.stage === "edit");
    const edits = { replace: 0, delete: 0, insert: 0 };
    for (const s of editSteps) {
      for (const c of s.changes) {
        if (c.kind in edits) {
          edits[c.kind]++;
        }
      }
    }
    const passes = maskSteps + editSteps.length;
    const st = run.stats;
    const tokens = run.usage ? run.usage.completion_tokens : null;
    addStat(dl, "Forward passes", "forward_passes", passes);
    addStat(dl, "Mask steps", "mask_steps", maskSteps);
    addStat(dl, "Edit rounds", "edit_rounds", editSteps.length);
    addStat(dl, "Edit rounds saved", "edit_rounds_saved", st ? st.edit_rounds_saved : "?");
    addStat(dl, "Replaced", "edits.replace", edits.replace);
    addStat(dl, "Deleted", "edits.delete", edits.delete);
    addStat(dl, "Inserted", "edits.insert", edits.insert);
    addStat(dl, "Answer tokens", "completion_tokens", tokens === null ? "?" : tokens);
    addStat(dl, "Answer tokens / pass", "tokens_per_pass", tokens === null || passes === 0 ? "?" : (tokens / passes).toFixed(2));
    addStat(dl, "Generation time", "generation_ms", st ? (st.generation_seconds * 1000).toFixed(1) + " ms" : "?");
    addStat(dl, "Queue time", "queue_ms", st ? (st.queue_seconds * 1000).toFixed(1) + " ms" : "?");
    addStat(dl, "Round trip", "wall_ms", run.wallMs.toFixed(0) + " ms");
    addStat(dl, "Finish", "finish_reason", run.finish || "?");
    const note = run.node.querySelector(".mismatch");
    const agree = st && st.forward_passes === passes && st.mask_steps === maskSteps && st.edit_rounds === editSteps.length &&
      st.edits.replace === edits.replace && st.edits.delete === edits.delete && st.edits.insert === edits.insert;
    note.hidden = Boolean(agree);
    note.textContent = agree ? "" : "The streamed steps and the server's statistics disagree: " + JSON.stringify(st);
  }

  // ---- actions ---------------------------------------------------------------------------------

  function showError(message) {
    const box = $("error");
    box.textContent = message;
    box.hidden = message === "";
  }

  async function generate() {
    if (page.busy || !page.model) {
      return;
    }
    showError("");
    if ($("prompt").value.trim() === "") {
      showError("Write a prompt first.");
      $("prompt").focus();
      return;
    }
    const compare = $("compare").checked && !$("compare").disabled;
    if (compare && !(budgetValue($("budget").value) > 0 && budgetValue($("budget").value) <= 1 && Number.isInteger(genLengthValue()))) {
      showError("Compare needs a budget in (0, 1] (such as 1/8) and a whole generation length.");
      return;
    }
    stopReplay();
    page.busy = true;
    page.abort = new AbortController();
    $("run").disabled = true;
    $("stop").disabled = false;
    $("replay").disabled = true;
    $("runs").replaceChildren();
    const budgetText = $("budget").value.trim() || formatNumber(page.model.medlm.budget);
    const plans = compare
      ? [["edit", `Mask + edit \u00b7 budget ${budgetText}`], ["mask", `Mask only \u00b7 budget ${budgetText}`]]
      : [["edit", `Budget ${budgetText}`]];
    page.runs = plans.map(([variant, title]) => ({ variant, run: newRun(title) }));
    await Promise.all(page.runs.map(async ({ variant, run }) => {
      try {
        await streamRun(run, requestBody(variant));
        run.node.querySelector(".answer").textContent = run.answer;
        showStats(run);
        setState(run, "done");
      } catch (e) {
        run.node.querySelector(".answer").textContent = "";
        if (e.name === "AbortError") {
          // Closing the connection cancels the sequence on the server.
          run.node.querySelector(".counter").textContent += " \u00b7 stopped";
          setState(run, "stopped");
        } else {
          showError(e.message);
          setState(run, "error");
        }
      }
    }));
    page.busy = false;
    page.abort = null;
    $("stop").disabled = true;
    $("run").disabled = false;
    $("replay").disabled = !page.runs.some(({ run }) => run.steps.length > 0);
  }

  function stopReplay() {
    clearInterval(page.replayTimer);
    page.replayTimer = 0;
  }

  function replay() {
    stopReplay();
    let index = 0;
    const last = Math.max(...page.runs.map(({ run }) => run.steps.length)) - 1;
    const tick = () => {
      for (const { run } of page.runs) {
        if (index < run.steps.length) {
          show(run, index);
        }
      }
      if (++index > last) {
        stopReplay();
      }
    };
    tick();
    page.replayTimer = setInterval(tick, 450);
  }

  function init() {
    $("prompt-form").addEventListener("submit", (e) => {
      e.preventDefault();
      generate();
    });
    $("prompt").addEventListener("keydown", (e) => {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        generate();
      }
    });
    $("replay").addEventListener("click", replay);
    $("stop").addEventListener("click", () => {
      if (page.abort) {
        page.abort.abort();
      }
    });
    $("algorithm").addEventListener("change", () => {
      updateThreshold();
      updatePlan();
    });
    for (const id of ["budget", "gen-length", "edit-rounds"]) {
      $(id).addEventListener("input", updatePlan);
    }
    $("api-key").addEventListener("change", () => {
      page.apiKey = $("api-key").value.trim();
      loadModel();
    });
    loadModel();
  }

  init();
})();
