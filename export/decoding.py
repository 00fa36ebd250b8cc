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


def medlm_stage1(model, prompts, gen_length, steps, ids: SpecialIds):
    """ME-DLM reference mask decoding (single block, max-probability scores). Returns RowTraces."""
    rows = [list(p) + [ids.mask] * gen_length for p in prompts]
    traces = [RowTrace(len(p), rows[b]) for b, p in enumerate(prompts)]
    for k in schedule(gen_length, steps):
        logits, _ = _forward(model, rows, ids.pad)
        for b, row in enumerate(rows):
            l = logits[b, :len(row)].clone()
            l[:, ids.delete] = float("-inf")
            x0 = l.argmax(-1)
            l[:, ids.pad] = float("-inf")
            # confidence in float64: the exact value, so a runtime summing in another order cannot
            # flip the ranking of two positions that float32 rounding would make (nearly) tied
            conf = torch.softmax(l.double(), -1).gather(-1, x0[:, None])[:, 0]
            masked = torch.tensor([t == ids.mask for t in row])
            conf[~masked] = float("-inf")
            pos = top_positions(conf, k)
            for i in pos:
                row[i] = int(x0[i])
            traces[b].commits.append(sorted(pos))
            traces[b].mask_passes += 1
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


def edit_rounds(model, traces, rounds, ids: SpecialIds, cap):
    """Run up to `rounds` edit rounds per row; a row at its fixed point leaves the batch."""
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
            cur = logits[j, :n].argmax(-1).tolist()
            nxt_head = next_logits[j, :n].argmax(-1).tolist()
            nxt = [nxt_head[(i - 1) % n] for i in range(n)]  # nxt[i] = next head at i-1 (roll by one)
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


def medlm_generate(model, prompts, gen_length, mask_steps, edit_steps, ids: SpecialIds, cap=None):
    """Stage 1 + between stages + stage 2: the ME-DLM reference pipeline."""
    traces = medlm_stage1(model, prompts, gen_length, mask_steps, ids)
    for t in traces:
        between_stages(t, ids, edit_steps > 0)
    if edit_steps > 0:
        if cap is None:
            cap = model.config.max_position_embeddings  # a row never grows past the context
        edit_rounds(model, traces, edit_steps, ids, cap)
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
                   threshold=None):
    """LLaDA generate.py semantics on a right-padded batch; remasking 'low_confidence', 'random' or
    'threshold' (Fast-dLLM: commit every masked position of the current block with conf >= threshold,
    and always the best one; steps are then variable and `steps` is ignored).

    EOS options as in LLaDA: logits_eos_inf bans PAD/EOS from the prediction; confidence_eos_eot_inf
    gives PAD/EOS and END zero confidence (with temperature > 0 LLaDA's code only bans END there,
    because the noisy logits are a separate tensor; that quirk is kept).
    """
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
