"""Dream reference decoder (decoding.dream_generate) against a literal transcription of Dream's own
_sample loop (torch, float32, batched as Dream batches), and statistical tests of its sampled paths."""
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import decoding
import tiny_checkpoints

G = 24


@pytest.fixture(scope="module")
def dream(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-dream")
    model = tiny_checkpoints.write_tiny_checkpoint(str(folder), "dream", seed=0, shards=1)
    with open(folder / "tokenizer.json") as f:
        added = {t["content"]: t["id"] for t in json.load(f)["added_tokens"]}
    ids = decoding.SpecialIds(mask=added["<|mask|>"], pad=added["<|endoftext|>"], delete=-1, end=added["<|im_end|>"])
    return model, ids


def _upstream_sample_tokens(logits, top_p, top_k, margin, neg_entropy):
    """Dream's sample_tokens at temperature 0 (the greedy path), in float32 as Dream runs it."""
    if top_p is not None and top_p < 1:
        sl, si = torch.sort(logits, descending=True)
        cum = torch.cumsum(F.softmax(sl, dim=-1), dim=-1)
        rm = cum > top_p
        rm[..., 1:] = rm[..., :-1].clone()
        rm[..., 0] = 0
        mask = torch.zeros_like(logits, dtype=torch.bool).scatter_(-1, si, rm)
        logits = logits.masked_fill(mask, torch.finfo(logits.dtype).min)
    if top_k is not None:
        kth = torch.topk(logits, min(top_k, logits.size(-1)))[0][..., -1, None]
        logits = logits.masked_fill(logits < kth, torch.finfo(logits.dtype).min)
    probs = torch.softmax(logits, dim=-1)
    confidence, x0 = probs.max(dim=-1)
    if margin:
        sp = torch.sort(probs, dim=-1, descending=True).values
        confidence = sp[:, 0] - sp[:, 1]
    if neg_entropy:
        confidence = torch.sum(probs * torch.log(probs + 1e-10), dim=-1)
    return confidence, x0


def _upstream_dream(model, prompt_batch, gen_length, steps, mask_id, alg, top_p=None, top_k=None, eps=1e-3):
    """Dream's _sample for equal-length prompts (no padding: attention 'full'), greedy, alg_temp None."""
    x = torch.tensor(prompt_batch, dtype=torch.long)
    x = F.pad(x, (0, gen_length), value=mask_id)
    timesteps = torch.linspace(1, eps, steps + 1)
    for i in range(steps):
        mask_index = x == mask_id
        with torch.no_grad():
            logits = model(x, torch.ones_like(x))[0].float()
        logits = torch.cat([logits[:, :1], logits[:, :-1]], dim=1)
        mask_logits = logits[mask_index]
        t, s = timesteps[i], timesteps[i + 1]
        confidence, x0 = _upstream_sample_tokens(mask_logits, top_p, top_k, alg == "topk_margin", alg == "entropy")
        num_mask_token = mask_index.sum() / mask_index.shape[0]
        k = int(num_mask_token * (1 - s / t)) if i < steps - 1 else int(num_mask_token)
        full = torch.full_like(x, -torch.inf, dtype=logits.dtype)
        full[mask_index] = confidence
        if k > 0:
            _, transfer_index = torch.topk(full, k)
            x_ = torch.zeros_like(x) + mask_id
            x_[mask_index] = x0.clone()
            rows = torch.arange(x.size(0)).unsqueeze(1).expand_as(transfer_index)
            x[rows, transfer_index] = x_[rows, transfer_index]
    return x.tolist()


def _schedules_agree(m, steps, eps=1e-3):
    """True when Dream's float32 schedule and the reference's float64 one give the same counts."""
    t32 = torch.linspace(1, eps, steps + 1)
    left32 = left64 = m
    for i in range(steps):
        a = int(torch.tensor(float(left32)) * (1 - t32[i + 1] / t32[i])) if i < steps - 1 else left32
        b = decoding.dream_transfer_count(left64, i, steps, eps)
        if a != b:
            return False
        left32 -= a
        left64 -= b
    return True


PROMPTS_SAME = [[3, 17, 40, 5, 9, 61], [12, 8, 33, 70, 2, 44]]
PROMPTS_MIXED = [[3, 17, 40], [12, 8, 33, 70, 2, 44, 90, 91], [5]]


@pytest.mark.parametrize("alg,steps,top_p,top_k", [
    ("maskgit_plus", 8, None, None), ("maskgit_plus", 24, None, None), ("topk_margin", 6, None, None),
    ("entropy", 12, None, None), ("entropy", 5, 0.9, None), ("topk_margin", 7, None, 5),
    ("maskgit_plus", 9, 0.8, 20)])
def test_greedy_matches_upstream_loop(dream, alg, steps, top_p, top_k):
    model, ids = dream
    assert _schedules_agree(G, steps)
    want = _upstream_dream(model, PROMPTS_SAME, G, steps, ids.mask, alg, top_p, top_k)
    got = decoding.dream_generate(model, PROMPTS_SAME, G, steps, ids, alg=alg, top_p=top_p, top_k=top_k)
    for w, t in zip(want, got):
        assert t.tokens == w
        assert ids.mask not in t.tokens


@pytest.mark.parametrize("alg", ["maskgit_plus", "topk_margin", "entropy", "origin"])
def test_rows_do_not_depend_on_their_batch(dream, alg):
    model, ids = dream
    kw = dict(alg=alg, temperature=0.7 if alg == "origin" else 0.0, top_p=0.9, seeds=[4, 5, 6])
    batch = decoding.dream_generate(model, PROMPTS_MIXED, G, 8, ids, **kw)
    for b, p in enumerate(PROMPTS_MIXED):
        alone = decoding.dream_generate(model, [p], G, 8, ids, **{**kw, "seeds": [kw["seeds"][b]]})[0]
        assert batch[b].tokens == alone.tokens
        assert batch[b].commits == alone.commits


def test_alg_temp_zero_is_greedy_selection(dream):
    model, ids = dream
    a = decoding.dream_generate(model, PROMPTS_MIXED, G, 6, ids, alg="entropy", alg_temp=0)
    b = decoding.dream_generate(model, PROMPTS_MIXED, G, 6, ids, alg="entropy", alg_temp=None)
    assert [t.tokens for t in a] == [t.tokens for t in b]


def test_shift_reads_previous_position():
    l = torch.arange(12, dtype=torch.float32).reshape(4, 3)
    s = decoding.shift_logits(l)
    assert s[0].tolist() == l[0].tolist()
    assert [s[j].tolist() for j in range(1, 4)] == [l[j - 1].tolist() for j in range(1, 4)]


def test_transfer_counts_sum_to_the_masks():
    for steps in (1, 2, 7, 64):
        for m in (0, 1, 5, 48, 1000):
            left = m
            for i in range(steps):
                k = decoding.dream_transfer_count(left, i, steps)
                assert 0 <= k <= left
                left -= k
            assert left == 0


def test_float32_schedule_differs_only_rarely():
    """The one deliberate arithmetic difference: float64 timesteps. Count the disagreements on a sweep."""
    cases = [(m, s) for s in range(1, 33) for m in range(1, 400, 13)]
    bad = [c for c in cases if not _schedules_agree(*c)]
    assert len(bad) <= len(cases) // 100


def _chi2_ok(counts, probs, n):
    """Pearson chi-square over cells with expected count >= 5, at a generous critical value."""
    stat, dof = 0.0, -1
    for c, p in zip(counts, probs):
        e = n * p
        if e >= 5:
            stat += (c - e) ** 2 / e
            dof += 1
    crit = dof + 5 * math.sqrt(2 * max(dof, 1))  # about 5 sigma above the mean
    return stat <= crit, stat, dof


@pytest.mark.parametrize("temperature,top_p,top_k", [(1.0, None, None), (0.7, 0.9, None), (1.3, None, 4), (0.5, 0.8, 3)])
def test_categorical_draw_follows_filtered_softmax(temperature, top_p, top_k):
    rng = np.random.default_rng(1)
    l = torch.tensor(rng.normal(0, 1.5, 12), dtype=torch.float32)
    w = decoding.dream_filtered_weights(l, temperature, top_p, top_k)
    probs = (w / w.sum()).tolist()
    n = 4000
    counts = [0] * len(probs)
    for pos in range(n):
        conf, x0 = decoding.dream_sample_tokens(l, temperature, top_p, top_k, "maskgit_plus", 99, 0, pos)
        counts[x0] += 1
        assert conf == pytest.approx(probs[x0])
    assert all(c == 0 for c, p in zip(counts, probs) if p == 0)  # filtered tokens never drawn
    ok, stat, dof = _chi2_ok(counts, probs, n)
    assert ok, (stat, dof)


def test_filtering_order_matches_dream():
    # top-p first (on the tempered distribution), then top-k; ties at the top-p boundary go to the lower id
    l = torch.tensor([2.0, 1.0, 1.0, 0.0, -1.0])
    w = decoding.dream_filtered_weights(l, 1.0, 0.6, None)
    p = torch.softmax(l.double(), 0)
    assert p[0] < 0.6 < p[0] + p[1]
    assert (w > 0).tolist() == [True, True, False, False, False]
    w = decoding.dream_filtered_weights(l, 1.0, None, 2)
    assert (w > 0).tolist() == [True, True, False, False, False]


def test_alg_temp_selection_frequencies():
    conf = {3: -0.5, 7: -1.0, 9: -2.0, 12: -0.1}
    positions = sorted(conf)
    alg_temp = 0.5
    c = torch.tensor([conf[p] for p in positions], dtype=torch.float64) / alg_temp
    probs = torch.softmax(c, 0).tolist()
    n = 4000
    counts = [0] * len(positions)
    for step in range(n):
        pick = decoding.dream_select_alg_temp(conf, positions, 2, alg_temp, 7, step)
        assert len(set(pick)) == 2
        counts[positions.index(pick[0])] += 1
    ok, stat, dof = _chi2_ok(counts, probs, n)
    assert ok, (stat, dof)


def test_origin_transfers_each_mask_with_the_schedule_probability(dream):
    """origin: a mask is revealed at step i with probability 1 - t_(i+1) / t_i (all at the last step)."""
    model, ids = dream
    steps = 4
    ts = decoding.dream_timesteps(steps)
    first = []
    for seed in range(60):
        t = decoding.dream_generate(model, [PROMPTS_MIXED[0]], G, steps, ids, alg="origin", seeds=[seed])[0]
        first.append(len(t.commits[0]))
        assert ids.mask not in t.tokens
        assert sum(len(c) for c in t.commits) == G
    p = 1 - ts[1] / ts[0]
    n = 60 * G
    mean = sum(first)
    sd = math.sqrt(n * p * (1 - p))
    assert abs(mean - n * p) <= 5 * sd


def test_unknown_algorithm_is_an_error(dream):
    model, ids = dream
    with pytest.raises(ValueError, match="alg"):
        decoding.dream_generate(model, [[1]], 4, 2, ids, alg="low_confidence")
