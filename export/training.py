"""Training helpers shared by both stages of the bundled model's recipe (train.py: mask stage,
train_edit.py: edit stage): the data sampler, masked batches, the weighted loss, the schedule, probes,
checkpoints and the optimiser."""
import math
import os
import random
import time

import torch
import torch.nn.functional as F

import bundle
import corpus
import decoding
from tokenizer import Tokenizer

G = bundle.GEN_LENGTH


class Data:
    """Tokenised training split, sampled half code / half math."""

    def __init__(self, tok, seed):
        self.tok = tok
        self.ids = bundle.special_ids(tok)
        train, _ = corpus.split()
        self.code = [it for it in train if it["kind"] == "code"]
        self.math = [it for it in train if it["kind"] == "math"]
        self.rng = random.Random(seed)
        self._enc = {}

    def enc(self, text):
        r = self._enc.get(text)
        if r is None:
            r = self.tok.encode(text)
            self._enc[text] = r
        return r

    def item(self):
        return self.rng.choice(self.code if self.rng.random() < 0.5 else self.math)

    def prompt(self, it):
        return self.enc(bundle.chat_prompt(it["prompt"]))

    def answers(self, it):
        return [self.enc(a) + [self.ids.end] for a in it["answers"]]

    def response(self, it):
        ans = self.rng.choice(it["answers"])
        r = self.enc(ans) + [self.ids.end]
        return r + [self.ids.pad] * (G - len(r))


def pad_rows(rows, pad_id, fill=None):
    length = max(len(r) for r in rows)
    out = torch.full((len(rows), length), pad_id if fill is None else fill, dtype=torch.long)
    att = torch.zeros((len(rows), length), dtype=torch.long)
    for b, r in enumerate(rows):
        out[b, :len(r)] = torch.tensor(r, dtype=torch.long)
        att[b, :len(r)] = 1
    return out, att


def mask_batch(data, batch_size):
    """(input_ids, attention_mask, cur_target, cur_weight, nxt_target, nxt_weight)."""
    ids = data.ids
    clean_rows, noisy_rows, plens = [], [], []
    for _ in range(batch_size):
        it = data.item()
        p = data.prompt(it)
        resp = data.response(it)
        t = data.rng.uniform(0.02, 1.0)
        noisy = [ids.mask if data.rng.random() < t else tok for tok in resp]
        if all(tok != ids.mask for tok in noisy):
            noisy[data.rng.randrange(G)] = ids.mask
        clean_rows.append(p + resp)
        noisy_rows.append(p + noisy)
        plens.append(len(p))
    x, att = pad_rows(noisy_rows, ids.pad)
    clean, _ = pad_rows(clean_rows, ids.pad)
    b, n = x.shape
    cur_w = torch.zeros(b, n)
    nxt_t = torch.full((b, n), -100, dtype=torch.long)
    nxt_w = torch.zeros(b, n)
    for r in range(b):
        p, L = plens[r], len(clean_rows[r])
        masked = x[r, p:L] == ids.mask
        cur_w[r, p:L] = torch.where(masked, 1.0, 0.1)
        # next-token head at i in [p-1, L-2] learns clean[i+1]; weight 1 where i or i+1 is masked
        nxt_t[r, p - 1:L - 1] = clean[r, p:L]
        m_next = x[r, p:L] == ids.mask
        m_here = torch.cat([torch.tensor([False]), masked[:-1]])
        nxt_w[r, p - 1:L - 1] = torch.where(m_next | m_here, 1.0, 0.1)
    return x, att, clean, cur_w, nxt_t, nxt_w


def weighted_ce(logits, target, weight):
    ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1).clamp(min=0), reduction="none")
    w = weight.reshape(-1) * (target.reshape(-1) >= 0)
    return (ce * w).sum() / w.sum().clamp(min=1.0)


def lr_at(step, total, peak, warmup=100, floor=0.1):
    if step < warmup:
        return peak * (step + 1) / warmup
    p = min(1.0, (step - warmup) / max(1, total - warmup))
    return peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * p)))


def log(out, msg):
    line = time.strftime("%H:%M:%S ") + msg
    print(line, flush=True)
    with open(os.path.join(out, "log.txt"), "a") as f:
        f.write(line + "\n")


def probe(model, data, items, mask_steps, edit_steps, batch=64):
    """Accuracy of the reference decoders on held-out items (list of dicts)."""
    model.eval()
    texts, rounds = [], 0
    for s in range(0, len(items), batch):
        chunk = items[s:s + batch]
        prompts = [data.prompt(it) for it in chunk]
        traces = decoding.medlm_generate(model, prompts, G, mask_steps, edit_steps, data.ids)
        for t in traces:
            texts.append(data.tok.decode(decoding.answer(t, data.ids), skip_special=True))
            rounds += t.edit_rounds
    ok = corpus.check(texts, items)
    model.train()
    code = [o for o, it in zip(ok, items) if it["kind"] == "code"]
    math_ = [o for o, it in zip(ok, items) if it["kind"] == "math"]
    pct = lambda v: 100.0 * sum(v) / max(1, len(v))  # noqa: E731
    return pct(ok), pct(code), pct(math_), rounds / max(1, len(items)), texts


def resume(ck_path, model, opt, data):
    """Restore a stage's checkpoint (weights, optimizer, data and torch RNG); returns the step (0: fresh)."""
    if not os.path.exists(ck_path):
        return 0
    ck = torch.load(ck_path, map_location="cpu")
    model.load_state_dict(ck["state_dict"])
    opt.load_state_dict(ck["optimizer"])
    data.rng.setstate(ck["data_rng"])
    torch.set_rng_state(ck["torch_rng"])
    return ck["step"]


def save(ck_path, model, opt, step, data):
    bundle.save_checkpoint(ck_path, model, {"optimizer": opt.state_dict(), "step": step,
                                            "data_rng": data.rng.getstate(), "torch_rng": torch.get_rng_state()})


def optimise(model, opt, loss):
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()


def make_optimizer(model, lr):
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                             lr=lr, betas=(0.9, 0.98))
