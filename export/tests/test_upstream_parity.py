"""Our reference decoders (decoding.py) against literal transcriptions of the upstream loops on a tiny random
network, on the greedy paths where both are deterministic: ME-DLM test.py (mask_diffusion, the PAD drop and
END, edit_diffusion), LLaDA generate.py (blocks, low_confidence, cfg, the EOS options) and Fast-dLLM
llada/generate.py threshold decoding (get_transfer_index). Each upstream loop runs one sequence (upstream
packs or pads a batch; decoding.py's rows do not depend on their batch, which test_decoding checks)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import decoding
import tiny_checkpoints

V = 64
IDS = decoding.SpecialIds(mask=63, pad=62, delete=61, end=60)
PROMPTS = [[3, 17, 40, 5], [12, 8, 33, 7, 2, 44, 9], [21]]


@pytest.fixture(scope="module")
def model():
    cfg = tiny_checkpoints.tiny_config("medlm", V)
    return tiny_checkpoints.random_model(cfg, seed=3)


def _heads(model, x):
    with torch.no_grad():
        lo, nx, _ = model(x[None], torch.ones_like(x)[None])
    return lo[0].float(), nx[0].float()


def _upstream_medlm(model, prompt, gen_length, mask_steps, edit_steps, max_length):
    """ME-DLM test.py: mask_diffusion (max_prob_score), the PAD drop and END, edit_diffusion (pred_per_step None)."""
    x = torch.tensor(prompt + [IDS.mask] * gen_length)
    answer_mask = x == IDS.mask
    a, b = divmod(gen_length, mask_steps)
    for k in [a + 1 if i < b else a for i in range(mask_steps)]:
        logit = _heads(model, x)[0]
        logit[:, IDS.delete] = -torch.inf
        cur = torch.argmax(logit, dim=-1)
        logit[:, IDS.pad] = -torch.inf
        scores = torch.gather(torch.softmax(logit, dim=-1), -1, cur[:, None])[:, 0]
        scores[~answer_mask] = -torch.inf
        pos = torch.topk(scores, k=k).indices
        answer_mask[pos] = False
        x[pos] = cur[pos]
    pm = torch.tensor([True] * len(prompt) + [False] * gen_length)
    keep = x != IDS.pad
    x, pm = x[keep], pm[keep]
    if edit_steps > 0:
        x[-1] = IDS.end
    for _ in range(edit_steps):
        lo, nx = _heads(model, x)
        cur = torch.argmax(lo, dim=-1)
        nxt = torch.argmax(nx.roll(1, dims=0), dim=-1)
        cur[pm] = x[pm]
        nxt[pm] = x[pm]
        d = cur != IDS.delete
        cur, nxt, pm = cur[d], nxt[d], pm[d]
        save = cur != nxt
        n = max_length - cur.numel()
        idx = save.nonzero(as_tuple=True)[0]
        if idx.numel() > n:
            save[idx[n:]] = False
        keep2 = torch.stack([save, torch.ones_like(save)], 1).view(-1)
        pm = torch.stack([torch.zeros_like(pm), pm], 1).view(-1)[keep2]
        x = torch.stack([nxt, cur], 1).view(-1)[keep2]
    return x[~pm].tolist()


@pytest.mark.parametrize("mask_steps,edit_steps,cap", [(16, 0, 64), (8, 4, 64), (4, 6, 64), (6, 6, 30)])
def test_medlm_matches_me_dlm_test_py(model, mask_steps, edit_steps, cap):
    for p in PROMPTS:
        want = _upstream_medlm(model, p, 16, mask_steps, edit_steps, cap)
        got = decoding.medlm_generate(model, [p], 16, mask_steps, edit_steps, IDS, cap=cap)[0]
        assert decoding.response(got) == want


def _upstream_llada(model, prompt, steps, gen_length, block_length, cfg_scale=0.0, logits_eos_inf=False,
                    confidence_eos_eot_inf=False):
    """LLaDA generate.py at temperature 0 (add_gumbel_noise returns the logits tensor itself)."""
    x = torch.full((1, len(prompt) + gen_length), IDS.mask, dtype=torch.long)
    x[0, :len(prompt)] = torch.tensor(prompt)
    prompt_index = x != IDS.mask
    num_blocks = gen_length // block_length
    steps = steps // num_blocks
    P = len(prompt)
    for nb in range(num_blocks):
        block_mask_index = x[:, P + nb * block_length:P + (nb + 1) * block_length] == IDS.mask
        base, rem = divmod(int(block_mask_index.sum()), steps)
        num_transfer = [base + 1 if i < rem else base for i in range(steps)]
        for i in range(steps):
            mask_index = x == IDS.mask
            if cfg_scale > 0:
                un_x = x.clone()
                un_x[prompt_index] = IDS.mask
                both = torch.cat([_heads(model, x[0])[0][None], _heads(model, un_x[0])[0][None]], 0)
                logits, un_logits = both[:1], both[1:]
                logits = un_logits + (cfg_scale + 1) * (logits - un_logits)
            else:
                logits = _heads(model, x[0])[0][None]
            if logits_eos_inf:
                logits[:, :, IDS.pad] = -torch.inf
            logits_with_noise = logits  # temperature 0: the same tensor
            x0 = torch.argmax(logits_with_noise, dim=-1)
            if confidence_eos_eot_inf:
                logits_with_noise[:, :, IDS.pad] = logits[:, :, IDS.end] = -torch.inf
            p = F.softmax(logits, dim=-1)
            x0_p = torch.gather(p, -1, x0[..., None])[..., 0]
            x0_p[:, P + (nb + 1) * block_length:] = -np.inf
            x0 = torch.where(mask_index, x0, x)
            confidence = torch.where(mask_index, x0_p, torch.tensor(-np.inf))
            _, sel = torch.topk(confidence[0], k=num_transfer[i])
            x[0, sel] = x0[0, sel]
    return x[0, P:].tolist()


@pytest.mark.parametrize("steps,block,cfg,eos", [(16, 16, 0.0, False), (8, 4, 0.0, False), (8, 8, 0.5, False),
                                                 (16, 8, 0.0, True)])
def test_llada_matches_llada_generate_py(model, steps, block, cfg, eos):
    for p in PROMPTS:
        want = _upstream_llada(model, p, steps, 16, block, cfg, eos, eos)
        got = decoding.llada_generate(model, [p], 16, steps, IDS, block_length=block, cfg_scale=cfg,
                                      logits_eos_inf=eos, confidence_eos_eot_inf=eos)[0]
        assert decoding.response(got) == want


def _upstream_threshold(model, prompt, gen_length, block_length, threshold):
    """Fast-dLLM llada/generate.py generate() with threshold: get_transfer_index per block until no mask is left."""
    x = torch.full((1, len(prompt) + gen_length), IDS.mask, dtype=torch.long)
    x[0, :len(prompt)] = torch.tensor(prompt)
    P = len(prompt)
    passes = 0
    for nb in range(gen_length // block_length):
        while True:
            mask_index = x == IDS.mask
            mask_index[:, P + (nb + 1) * block_length:] = 0
            logits = _heads(model, x[0])[0][None]
            x0 = torch.argmax(logits, dim=-1)
            p = F.softmax(logits.to(torch.float64), dim=-1)
            x0_p = torch.gather(p, -1, x0[..., None])[..., 0]
            x0 = torch.where(mask_index, x0, x)
            confidence = torch.where(mask_index, x0_p, torch.tensor(-np.inf, dtype=torch.float64))
            k = int(mask_index.sum())
            _, sel = torch.topk(confidence[0], k=k)
            transfer = torch.zeros_like(x0, dtype=torch.bool)
            transfer[0, sel] = True
            for j in range(1, k):
                if confidence[0, sel[j]] < threshold:
                    transfer[0, sel[j]] = False
            x[transfer] = x0[transfer]
            passes += 1
            if (x[:, P + nb * block_length:P + (nb + 1) * block_length] == IDS.mask).sum() == 0:
                break
    return x[0, P:].tolist(), passes


@pytest.mark.parametrize("block,threshold", [(16, 0.9), (8, 0.5), (4, 0.2)])
def test_threshold_matches_fast_dllm(model, block, threshold):
    for p in PROMPTS:
        want, passes = _upstream_threshold(model, p, 16, block, threshold)
        got = decoding.llada_generate(model, [p], 16, 0, IDS, block_length=block, remasking="threshold",
                                      threshold=threshold)[0]
        assert decoding.response(got) == want
        assert got.mask_passes == passes
