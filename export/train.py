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
import os
import time

import torch

import bundle
import corpus
import train_edit
from model import MeDlmConfig, MeDlmModel
from tokenizer import Tokenizer
from training import G, Data, log, lr_at, make_optimizer, mask_batch, optimise, probe, resume, save, weighted_ce


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
        train_edit.train_edit(args)


if __name__ == "__main__":
    main()
