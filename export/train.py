"""Training recipe of the bundled model (ME-DLM stages on a small corpus), seeded and resumable.

  python3 export/train.py mask --out export/runs/tiny     # stage A: masked diffusion, both heads
  python3 export/train.py edit --out export/runs/tiny     # stage B: ME-DLM edit stage on own drafts

Stage A (mask): the response (answer + END + PAD to GEN_LENGTH) is masked with ratio t ~ U(0.02, 1);
the current-token head learns the clean token at masked positions (weight 1) and copies visible
response tokens (weight 0.1, so an untrained edit pass changes nothing); the next-token head learns,
at each position from the last prompt token on, the clean token that follows it.
Stage B (edit): masked batches as in stage A alternate with edit batches made of clean references and
the model's own drafts, labelled by a Levenshtein alignment to the nearest valid answer (labels.py).
Progress goes to <out>/log.txt; checkpoints to <out>/{mask,edit}.pt (resumed when present).
"""
import argparse
import json
import math
import os
import random
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bundle  # noqa: E402
import corpus  # noqa: E402
import decoding  # noqa: E402
from model import MeDlmConfig, MeDlmModel  # noqa: E402
from tokenizer import Tokenizer  # noqa: E402

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
        return self.enc(bundle.CHAT_TEMPLATE.format(prompt=it["prompt"]))

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


def train_mask(args):
    torch.manual_seed(args.seed)
    tok_path = os.path.join(args.out, "tokenizer.json")
    if not os.path.exists(tok_path):
        bundle.build_tokenizer(seed=args.seed).save(tok_path)
    tok = Tokenizer.load(tok_path)
    data = Data(tok, args.seed)
    cfg = MeDlmConfig(vocab_size=tok.vocab_size, hidden_size=args.d, intermediate_size=args.ff,
                      num_hidden_layers=args.layers, num_attention_heads=args.heads, num_key_value_heads=args.heads,
                      head_dim=args.d // args.heads, max_position_embeddings=128)
    model = MeDlmModel(cfg)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if p.dim() >= 2:
                p.normal_(0.0, 1.0 if n == "model.embed_tokens.weight" else 0.02)
    opt = make_optimizer(model, args.lr)
    ck_path = os.path.join(args.out, "mask.pt")
    step = resume(ck_path, model, opt, data)
    if step:
        log(args.out, f"resumed mask stage at step {step}")
    else:
        log(args.out, f"mask stage: {model.num_parameters()} parameters, vocab {cfg.vocab_size}, config {json.dumps(cfg.to_dict())}")
    probe_items = corpus.heldout_sample(128, seed=1)
    model.train()
    t0, tokens = time.time(), 0
    while step < args.steps:
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args.steps, args.lr)
        x, att, clean, cur_w, nxt_t, nxt_w = mask_batch(data, args.batch)
        logits, next_logits, _ = model(x, att)
        loss_cur = weighted_ce(logits, clean, cur_w)
        loss_nxt = weighted_ce(next_logits, nxt_t, nxt_w)
        optimise(model, opt, loss_cur + loss_nxt)
        step += 1
        tokens += int(att.sum())
        if step % 25 == 0:
            dt = time.time() - t0
            log(args.out, f"mask step {step}/{args.steps} loss cur {loss_cur.item():.4f} nxt {loss_nxt.item():.4f} "
                          f"lr {opt.param_groups[0]['lr']:.2e} {tokens / dt:.0f} tok/s")
        if step % args.probe_every == 0 or step == args.steps:
            acc, code, math_, _, texts = probe(model, data, probe_items, G, 0)
            log(args.out, f"probe step {step}: 1/1 mask-only acc {acc:.1f}% (code {code:.1f}, math {math_:.1f}) "
                          f"sample: {texts[0]!r}")
            save(ck_path, model, opt, step, data)
    log(args.out, "mask stage done")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("stage", choices=["mask", "edit"])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "runs", "tiny"))
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--d", type=int, default=192)
    ap.add_argument("--ff", type=int, default=512)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=6)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=2400)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--probe-every", type=int, default=200)
    ap.add_argument("--edit-steps", type=int, default=1000)
    ap.add_argument("--edit-lr", type=float, default=5e-4)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    if args.stage == "mask":
        train_mask(args)
    else:
        import train_edit
        train_edit.train_edit(args)


if __name__ == "__main__":
    main()
