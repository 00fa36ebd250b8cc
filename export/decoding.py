"""Reference decoders (docs/DESIGN.md §2), on right-padded batches with per-row prompt lengths.

These are the spec the C# runtime is pinned to through golden files. Conventions:
- ties in top-k position selection go to the LOWER position (stable sort on descending score);
- randomness (temperature, random remasking) comes from the counter-based generator below, keyed by
  (seed, purpose, step, position, index), so a row's result never depends on the rest of its batch.
"""
from dataclasses import dataclass, field

import numpy as np
import torch

# ---------------------------------------------------------------- counter-based random source

_M64 = (1 << 64) - 1
PURPOSE_GUMBEL, PURPOSE_RANDOM_REMASK, PURPOSE_SAMPLE = 1, 2, 3


def _mix64_int(z):
    z &= _M64
    z ^= z >> 30
    z = (z * 0xBF58476D1CE4E5B9) & _M64
    z ^= z >> 27
    z = (z * 0x94D049BB133111EB) & _M64
    z ^= z >> 31
    return z


def rng_key(seed, purpose, step, position):
    h = _mix64_int((seed & _M64) ^ 0x9E3779B97F4A7C15)
    h = _mix64_int(h + purpose)
    h = _mix64_int(h + step)
    return _mix64_int(h + position)


def rng_uniform(key, index):
    """Uniform doubles strictly inside (0, 1); index may be an int or a numpy uint64 array."""
    with np.errstate(over="ignore"):
        z = np.asarray(index, dtype=np.uint64) + np.uint64(key)
        z = z ^ (z >> np.uint64(30))
        z = z * np.uint64(0xBF58476D1CE4E5B9)
        z = z ^ (z >> np.uint64(27))
        z = z * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    u = ((z >> np.uint64(11)).astype(np.float64) + 0.5) * (2.0 ** -53)
    return np.minimum(u, 1.0 - 2.0 ** -53)  # (2^53 - 1 + 0.5) * 2^-53 rounds to 1.0: keep U < 1


# ---------------------------------------------------------------- helpers


@dataclass
class SpecialIds:
    mask: int
    pad: int
    delete: int
    end: int


def top_positions(scores, k):
    """The k best positions of a 1-D float tensor, skipping -inf, ties to the lower position."""
    if k <= 0:
        return []
    order = torch.sort(-scores.double(), stable=True).indices.tolist()
    out = []
    for i in order:
        if len(out) == k or scores[i] == float("-inf"):
            break
        out.append(i)
    return out


def schedule(n, steps):
    """Base + remainder: n div steps per step, +1 for the first n mod steps steps."""
    base, rem = divmod(n, steps)
    return [base + 1 if s < rem else base for s in range(steps)]


def _pad_batch(rows, pad_id):
    length = max(len(r) for r in rows)
    ids = torch.full((len(rows), length), pad_id, dtype=torch.long)
    att = torch.zeros((len(rows), length), dtype=torch.long)
    for b, r in enumerate(rows):
        ids[b, :len(r)] = torch.tensor(r, dtype=torch.long)
        att[b, :len(r)] = 1
    return ids, att


def _forward(model, rows, pad_id):
    ids, att = _pad_batch(rows, pad_id)
    with torch.no_grad():
        logits, next_logits, _ = model(ids, att)
    return logits.float(), next_logits.float()


@dataclass
class RowTrace:
    prompt_len: int
    tokens: list
    draft: list = None
    commits: list = field(default_factory=list)  # per stage-1 step: committed positions (ascending)
    mask_passes: int = 0
    edit_rounds: int = 0  # rounds actually run (a fixed point ends the row early)
    edits: dict = field(default_factory=lambda: {"replaced": 0, "deleted": 0, "inserted": 0})


# ---------------------------------------------------------------- stage 1: ME-DLM


def switch_early(l, x0, pos, masked, switch_threshold):
    """The early switch (docs/DESIGN.md §2.6): after a pass's choice `pos`, when every masked candidate left
    has p >= switch_threshold, all masked candidates are committed in this pass. p = softmax(l.double())[x0]
    with l the logits after the prediction's bans only: unlike the ranking confidence, PAD and END stay in the
    normaliser, so a confidently predicted PAD tail counts. Returns the positions to commit and whether stage 1
    ends here (False, pos unchanged, when one falls short or none is left)."""
    if not switch_threshold:
        return pos, False
    chosen = set(pos)
    rest = [i for i in masked if i not in chosen]
    if not rest:
        return pos, False
    for i in rest:
        if float(torch.softmax(l[i].double(), -1)[int(x0[i])]) < switch_threshold:
            return pos, False
    return sorted(masked), True


def medlm_stage1(model, prompts, gen_length, steps, ids: SpecialIds, switch_threshold=None):
    """ME-DLM reference mask decoding (single block, max-probability scores). Returns RowTraces.
    With switch_threshold a row whose remaining masks are all that confident commits them and stops early."""
    rows = [list(p) + [ids.mask] * gen_length for p in prompts]
    traces = [RowTrace(len(p), rows[b]) for b, p in enumerate(prompts)]
    active = list(range(len(rows)))
    for k in schedule(gen_length, steps):
        if not active:
            break
        logits, _ = _forward(model, [rows[b] for b in active], ids.pad)
        still = []
        for j, b in enumerate(active):
            row = rows[b]
            l = logits[j, :len(row)].clone()
            l[:, ids.delete] = float("-inf")
            x0 = l.argmax(-1)
            predicted = l.clone()  # the prediction's logits (DEL banned), for the switch
            l[:, ids.pad] = float("-inf")
            # confidence in float64: the exact value, so a runtime summing in another order cannot
            # flip the ranking of two positions that float32 rounding would make (nearly) tied
            conf = torch.softmax(l.double(), -1).gather(-1, x0[:, None])[:, 0]
            masked = torch.tensor([t == ids.mask for t in row])
            conf[~masked] = float("-inf")
            pos = top_positions(conf, k)
            pos, switched = switch_early(predicted, x0, pos, [i for i in range(len(row)) if row[i] == ids.mask], switch_threshold)
            for i in pos:
                row[i] = int(x0[i])
            traces[b].commits.append(sorted(pos))
            traces[b].mask_passes += 1
            if not switched:
                still.append(b)
        active = still
    return traces


def between_stages(trace, ids: SpecialIds, edits_follow):
    """Drop PAD from the response; if edit rounds follow, overwrite the response's last token with END."""
    p = trace.prompt_len
    resp = [t for t in trace.tokens[p:] if t != ids.pad]
    if edits_follow and resp:
        resp[-1] = ids.end
    trace.tokens = trace.tokens[:p] + resp
    trace.draft = list(resp)
    return trace


# ---------------------------------------------------------------- stage 2: edit rounds


def apply_edits(x, cur, nxt, prompt_len, delete_id, cap):
    """One edit application on one row (docs/DESIGN.md §2.3). Returns (new_row, counts, fixed_point)."""
    n = len(x)
    cur = list(cur)
    nxt = list(nxt)
    for i in range(min(prompt_len, n)):
        cur[i] = x[i]
        nxt[i] = x[i]
    fixed = all(cur[i] == x[i] and nxt[i] == x[i] for i in range(n))
    keep = [i for i in range(n) if i < prompt_len or cur[i] != delete_id]  # prompt tokens are never deleted
    allowed = max(0, cap - len(keep))
    out = []
    counts = {"replaced": 0, "deleted": n - len(keep), "inserted": 0}
    for i in keep:
        if nxt[i] != cur[i] and counts["inserted"] < allowed:
            out.append(nxt[i])
            counts["inserted"] += 1
        if i >= prompt_len and cur[i] != x[i]:
            counts["replaced"] += 1
        out.append(cur[i])
    return out, counts, fixed


def gate_edits(x, cur, nxt, p_cur, p_nxt, prompt_len, threshold):
    """The confidence gate of an edit round (docs/DESIGN.md §2.3), before apply_edits: on response positions the
    insertion proposed before i (nxt[i] != cur[i]) stands only where p_nxt[i] >= threshold, the replacement or
    deletion (cur[i] != x[i]) only where p_cur[i] >= threshold (else cur[i] = x[i]); a withdrawn insertion
    sets nxt[i] = cur[i]. Returns the gated (cur, nxt)."""
    cur, nxt = list(cur), list(nxt)
    for i in range(prompt_len, len(x)):
        insert = nxt[i] != cur[i] and p_nxt[i] >= threshold
        if p_cur[i] < threshold:
            cur[i] = x[i]
        if not insert:
            nxt[i] = cur[i]
    return cur, nxt


def argmax_probability(logits_rows):
    """Per row: (argmax, softmax(l.double())[argmax]) of float32 logits, ties to the lower id."""
    x = logits_rows.argmax(-1)
    p = torch.softmax(logits_rows.double(), -1).gather(-1, x[:, None])[:, 0]
    return x.tolist(), p.tolist()


def edit_rounds(model, traces, rounds, ids: SpecialIds, cap, edit_threshold=0.0):
    """Run up to `rounds` edit rounds per row; a row at its fixed point leaves the batch. With edit_threshold > 0
    each proposal is gated by its head's probability (gate_edits); a round where no gated edit applies is a
    fixed point."""
    active = list(range(len(traces)))
    for _ in range(rounds):
        if not active:
            break
        rows = [traces[b].tokens for b in active]
        logits, next_logits = _forward(model, rows, ids.pad)
        still = []
        for j, b in enumerate(active):
            t = traces[b]
            n = len(t.tokens)
            cur, p_cur = argmax_probability(logits[j, :n])
            nxt_head, p_head = argmax_probability(next_logits[j, :n])
            nxt = [nxt_head[(i - 1) % n] for i in range(n)]  # nxt[i] = next head at i-1 (roll by one)
            if edit_threshold > 0:
                p_nxt = [p_head[(i - 1) % n] for i in range(n)]
                cur, nxt = gate_edits(t.tokens, cur, nxt, p_cur, p_nxt, t.prompt_len, edit_threshold)
            new, counts, fixed = apply_edits(t.tokens, cur, nxt, t.prompt_len, ids.delete, cap)
            t.edit_rounds += 1
            if fixed:
                continue
            for key in counts:
                t.edits[key] += counts[key]
            t.tokens = new
            still.append(b)
        active = still
    return traces


def response(trace):
    return trace.tokens[trace.prompt_len:]


def answer(trace, ids: SpecialIds):
    """The answer a user gets: the response up to its first END or PAD (what follows is not part of it)."""
    out = []
    for t in response(trace):
        if t in (ids.end, ids.pad):
            break
        out.append(t)
    return out


def medlm_generate(model, prompts, gen_length, mask_steps, edit_steps, ids: SpecialIds, cap=None, edit_threshold=0.0,
                   switch_threshold=None):
    """Stage 1 + between stages + stage 2: the ME-DLM reference pipeline."""
    traces = medlm_stage1(model, prompts, gen_length, mask_steps, ids, switch_threshold=switch_threshold)
    for t in traces:
        between_stages(t, ids, edit_steps > 0)
    if edit_steps > 0:
        if cap is None:
            cap = model.config.max_position_embeddings  # a row never grows past the context
        edit_rounds(model, traces, edit_steps, ids, cap, edit_threshold=edit_threshold)
    return traces


def llada_edit_generate(model, prompts, gen_length, edit_steps, ids: SpecialIds, cap=None, edit_threshold=0.0, **stage1):
    """A LLaDA / Fast-dLLM stage 1 (llada_generate, e.g. remasking='threshold': the budget-free mode of
    docs/DESIGN.md §2.6), then, when edit rounds follow, between stages and up to `edit_steps` edit rounds (a cap:
    rows stop at their fixed point). Without edit rounds the draft is the stage-1 response as it is."""
    traces = llada_generate(model, prompts, gen_length, stage1.pop("steps", 0), ids, **stage1)
    for t in traces:
        if edit_steps > 0:
            between_stages(t, ids, True)
        else:
            t.draft = t.tokens[t.prompt_len:]
    if edit_steps > 0:
        if cap is None:
            cap = model.config.max_position_embeddings
        edit_rounds(model, traces, edit_steps, ids, cap, edit_threshold=edit_threshold)
    return traces


def budget_split(gen_length, budget, edit_share=0.25):
    """A budget b allows round(G*b) passes: 75% mask steps / 25% edit rounds by default."""
    total = max(1, int(gen_length * budget + 0.5))  # round half up (no banker's rounding)
    edits = int(total * edit_share + 0.5)
    masks = max(1, total - edits)
    return masks, total - masks


# ---------------------------------------------------------------- stage 1: LLaDA / Fast-dLLM


def gumbel_argmax(logits_row, seed, step, position, temperature):
    """LLaDA's add_gumbel_noise + argmax, argmax exp(l) / (-log U)^T in float64 with U from the counter
    RNG, taken in log form (l - T log(-log U): the same argmax, and no overflow for l > 709)."""
    l = logits_row.double().numpy()
    u = rng_uniform(rng_key(seed, PURPOSE_GUMBEL, step, position), np.arange(l.shape[0], dtype=np.uint64))
    noisy = l - temperature * np.log(-np.log(u))
    return int(np.argmax(noisy))  # first maximum: ties to the lower token id


def llada_generate(model, prompts, gen_length, steps, ids: SpecialIds, block_length=None, remasking="low_confidence",
                   temperature=0.0, cfg_scale=0.0, seeds=None, logits_eos_inf=False, confidence_eos_eot_inf=False,
                   threshold=None, switch_threshold=None):
    """LLaDA generate.py semantics on a right-padded batch; remasking 'low_confidence', 'random' or
    'threshold' (Fast-dLLM: commit every masked position of the current block with conf >= threshold,
    and always the best one; steps are then variable and `steps` is ignored).

    EOS options as in LLaDA: logits_eos_inf bans PAD/EOS from the prediction; confidence_eos_eot_inf
    gives PAD/EOS and END zero confidence (with temperature > 0 LLaDA's code only bans END there,
    because the noisy logits are a separate tensor; that quirk is kept).

    switch_threshold: the early switch (switch_early) in the last block; not with 'random' (noise scores).
    """
    if switch_threshold and remasking == "random":
        raise ValueError("switch_threshold compares confidences; random remasking ranks by noise")
    block_length = block_length or gen_length
    if gen_length % block_length:
        raise ValueError("gen_length must be divisible by block_length")
    n_blocks = gen_length // block_length
    if remasking != "threshold" and steps % n_blocks:
        raise ValueError("steps must be divisible by the number of blocks")
    steps_per_block = steps // n_blocks if remasking != "threshold" else None
    seeds = seeds or [0] * len(prompts)
    rows = [list(p) + [ids.mask] * gen_length for p in prompts]
    traces = [RowTrace(len(p), rows[b]) for b, p in enumerate(prompts)]
    state = [{"block": 0, "step_in_block": 0, "sched": None, "done": False} for _ in rows]

    def block_range(b):
        s = traces[b].prompt_len + state[b]["block"] * block_length
        return s, s + block_length

    while True:
        active = [b for b in range(len(rows)) if not state[b]["done"]]
        if not active:
            break
        for b in active:
            st = state[b]
            if st["sched"] is None and remasking != "threshold":
                s, e = block_range(b)
                st["sched"] = schedule(sum(1 for t in rows[b][s:e] if t == ids.mask), steps_per_block)
        batch_rows = [rows[b] for b in active]
        if cfg_scale > 0:
            un_rows = [[ids.mask] * traces[b].prompt_len + rows[b][traces[b].prompt_len:] for b in active]
            both, _ = _forward(model, batch_rows + un_rows, ids.pad)
            cond, uncond = both[:len(active)], both[len(active):]
            logits_all = uncond + (cfg_scale + 1) * (cond - uncond)
        else:
            logits_all, _ = _forward(model, batch_rows, ids.pad)
        for j, b in enumerate(active):
            row, st, tr = rows[b], state[b], traces[b]
            n = len(row)
            l = logits_all[j, :n].clone()
            if logits_eos_inf:
                l[:, ids.pad] = float("-inf")
            masked = [i for i in range(n) if row[i] == ids.mask]
            x0 = {}
            for i in masked:
                x0[i] = (gumbel_argmax(l[i], seeds[b], tr.mask_passes, i, temperature) if temperature > 0
                         else int(l[i].argmax()))
            conf_logits = l.clone()
            if confidence_eos_eot_inf:
                conf_logits[:, ids.end] = float("-inf")
                if temperature == 0:
                    conf_logits[:, ids.pad] = float("-inf")
            s, e = block_range(b)
            conf = torch.full((n,), float("-inf"), dtype=torch.float64)
            if remasking in ("low_confidence", "threshold"):
                p = torch.softmax(conf_logits.double(), -1)  # float64, as in medlm_stage1
                for i in masked:
                    if i < e:
                        conf[i] = float(p[i, x0[i]])
            elif remasking == "random":
                for i in masked:
                    if i < e:
                        conf[i] = float(rng_uniform(rng_key(seeds[b], PURPOSE_RANDOM_REMASK, tr.mask_passes, i), 0))
            else:
                raise ValueError(remasking)
            if remasking == "threshold":
                order = top_positions(conf, len(masked))
                pos = [i for k, i in enumerate(order) if k == 0 or conf[i] >= threshold]
            else:
                pos = top_positions(conf, st["sched"][st["step_in_block"]])
            if st["block"] == n_blocks - 1:
                pos, switched = switch_early(l, x0, pos, masked, switch_threshold)
                if switched:
                    for i in pos:
                        row[i] = x0[i]
                    tr.commits.append(sorted(pos))
                    tr.mask_passes += 1
                    st["done"] = True
                    continue
            for i in pos:
                row[i] = x0[i]
            tr.commits.append(sorted(pos))
            tr.mask_passes += 1
            st["step_in_block"] += 1
            block_left = any(t == ids.mask for t in row[s:e])
            finished_block = (not block_left) if remasking == "threshold" else st["step_in_block"] == steps_per_block
            if finished_block:
                st["block"] += 1
                st["step_in_block"] = 0
                st["sched"] = None
                if st["block"] == n_blocks:
                    st["done"] = True
    return traces


# ---------------------------------------------------------------- stage 1: Dream

PURPOSE_TRANSFER_COIN, PURPOSE_ALG_TEMP = 4, 5
DREAM_ALGORITHMS = ("origin", "maskgit_plus", "topk_margin", "entropy")
DREAM_ENTROPY_EPS = 1e-10


def dream_timesteps(steps, eps=1e-3):
    """linspace(1, eps, steps + 1) in float64 (numpy's formula; Dream's float32 torch.linspace can differ
    in the last bit, which moves a transfer count by one in rare cases: see docs/dream-parity.md)."""
    return np.linspace(1.0, eps, steps + 1)


def dream_transfer_count(masks_left, step, steps, eps=1e-3):
    """Dream's per-step count: int(m * (1 - s / t)) with t = t_i, s = t_(i+1); every mask at the last step."""
    if step == steps - 1:
        return masks_left
    ts = dream_timesteps(steps, eps)
    return int(min(max(np.floor(masks_left * (1.0 - ts[step + 1] / ts[step])), 0), masks_left))


def shift_logits(logits_row):
    """Dream's shift: position j is predicted by the logits of j - 1; position 0 keeps its own
    (torch.cat([logits[:, :1], logits[:, :-1]], 1)), so the first response position reads the last prompt token."""
    return torch.cat([logits_row[:1], logits_row[:-1]], 0)


def dream_filtered_weights(l, temperature, top_p, top_k):
    """Dream's sample_tokens filtering in float64, as unnormalised weights w (0 = filtered out):
    logits / T (T > 0), then top-p, then top-k, on the order (logit desc, id asc)."""
    l = l.double()
    if temperature > 0:
        l = l / temperature
    finite = torch.isfinite(l)
    if not bool(finite.any()):
        return torch.zeros_like(l)
    m = l[finite].max()
    w = torch.where(finite, torch.exp(l - m), torch.zeros_like(l))
    order = torch.sort(-l, stable=True).indices  # logit desc, ties to the lower id
    keep = torch.ones_like(w, dtype=torch.bool)
    keep &= finite
    if top_p is not None and top_p < 1:
        ws = w[order]
        before = torch.cumsum(ws, 0) - ws  # mass of the tokens ahead in the order
        drop_sorted = before > top_p * ws.sum()
        drop = torch.zeros_like(keep)
        drop[order] = drop_sorted
        keep &= ~drop
    if top_k is not None and top_k > 0:
        drop = torch.ones_like(keep)
        drop[order[:top_k]] = False
        keep &= ~drop
    return torch.where(keep, w, torch.zeros_like(w))


def dream_sample_tokens(l, temperature, top_p, top_k, alg, seed, step, position):
    """Dream's sample_tokens for one position: (confidence, x0). The categorical draw uses the counter RNG
    (purpose 3): walk the kept tokens in ascending id order, first whose running weight exceeds u * total."""
    w = dream_filtered_weights(l, temperature, top_p, top_k)
    total = float(w.sum())
    if total == 0.0:
        return 0.0, int(torch.argmax(l))
    probs = w / total
    if temperature > 0:
        u = float(rng_uniform(rng_key(seed, PURPOSE_SAMPLE, step, position), 0))
        cum = torch.cumsum(w, 0)
        hits = (cum > u * total).nonzero()
        x0 = int(hits[0]) if len(hits) else int(w.nonzero()[-1])
    else:
        x0 = int(torch.argmax(probs))  # first maximum: ties to the lower id
    if alg == "topk_margin":
        top2 = torch.sort(probs, descending=True).values
        conf = float(top2[0] - (top2[1] if top2.numel() > 1 else 0.0))
    elif alg == "entropy":
        conf = float((probs * torch.log(probs + DREAM_ENTROPY_EPS)).sum())
    else:
        conf = float(probs[x0])
    return conf, x0


def dream_select_alg_temp(conf, positions, k, alg_temp, seed, step):
    """torch.multinomial(softmax(conf / alg_temp), k) without replacement, as k sequential draws with the
    counter RNG (purpose 5, position 0, index = draw number): each walks the remaining positions in ascending
    order and takes the first whose running weight exceeds u * remaining weight."""
    c = torch.tensor([conf[i] for i in positions], dtype=torch.float64) / alg_temp
    w = torch.exp(c - c.max())
    remaining = list(range(len(positions)))
    out = []
    for j in range(k):
        u = float(rng_uniform(rng_key(seed, PURPOSE_ALG_TEMP, step, 0), j))
        total = float(sum(float(w[r]) for r in remaining))
        acc, pick = 0.0, remaining[-1]
        for r in remaining:
            acc += float(w[r])
            if acc > u * total:
                pick = r
                break
        remaining.remove(pick)
        out.append(positions[pick])
    return out


def dream_generate(model, prompts, gen_length, steps, ids: SpecialIds, alg="maskgit_plus", temperature=0.0,
                   top_p=None, top_k=None, alg_temp=None, eps=1e-3, seeds=None):
    """Dream's diffusion_generate / _sample (generation_utils.py) on a right-padded batch with per-row prompt
    lengths: shifted logits, the linspace(1, eps, steps + 1) schedule, algorithms origin / maskgit_plus /
    topk_margin / entropy, alg_temp, temperature with top-p then top-k. Randomness from the counter RNG,
    keyed per row; a row with no mask left stops (Dream runs its remaining steps without changing it)."""
    if alg not in DREAM_ALGORITHMS:
        raise ValueError(f"alg {alg!r} not in {DREAM_ALGORITHMS}")
    seeds = seeds or [0] * len(prompts)
    ts = dream_timesteps(steps, eps)
    rows = [list(p) + [ids.mask] * gen_length for p in prompts]
    traces = [RowTrace(len(p), rows[b]) for b, p in enumerate(prompts)]
    for i in range(steps):
        active = [b for b in range(len(rows)) if ids.mask in rows[b]]
        if not active:
            break
        logits, _ = _forward(model, [rows[b] for b in active], ids.pad)
        for j, b in enumerate(active):
            row, tr = rows[b], traces[b]
            n = len(row)
            l = shift_logits(logits[j, :n])
            masked = [p for p in range(n) if row[p] == ids.mask]
            step = tr.mask_passes
            if alg == "origin":
                p_transfer = 1.0 - ts[i + 1] / ts[i] if i < steps - 1 else 1.0
                pos = [p for p in masked
                       if rng_uniform(rng_key(seeds[b], PURPOSE_TRANSFER_COIN, step, p), 0) < p_transfer]
                for p in pos:
                    row[p] = dream_sample_tokens(l[p], temperature, top_p, top_k, alg, seeds[b], step, p)[1]
            else:
                conf, x0 = {}, {}
                for p in masked:
                    conf[p], x0[p] = dream_sample_tokens(l[p], temperature, top_p, top_k, alg, seeds[b], step, p)
                k = dream_transfer_count(len(masked), i, steps, eps)
                if k == 0:
                    pos = []
                elif alg_temp is None or alg_temp == 0:
                    scores = torch.full((n,), float("-inf"), dtype=torch.float64)
                    for p in masked:
                        scores[p] = conf[p]
                    pos = top_positions(scores, k)
                else:
                    pos = dream_select_alg_temp(conf, masked, k, alg_temp, seeds[b], step)
                for p in pos:
                    row[p] = x0[p]
            tr.commits.append(sorted(pos))
            tr.mask_passes += 1
    return traces
