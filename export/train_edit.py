"""Stage B of the recipe: the ME-DLM edit stage on the model's own drafts (see train.py)."""
import os
import random
import time

import torch

import bundle
import corpus
import decoding
import labels
from tokenizer import Tokenizer
from training import G, Data, log, lr_at, make_optimizer, mask_batch, optimise, pad_rows, probe, resume, save, weighted_ce


def make_drafts(model, data, n):
    """n (item, prompt, draft response) triples from the model's own greedy decoding.

    Part of the answer is masked (ratio ~ U(0.3, 1)) and refilled committing k in {2, 4, 8, 16}
    tokens per pass, in random order for half the rows and by confidence for the rest; then the
    between-stages transform (drop PAD, last token -> END), and with probability 0.3 one own edit round.
    """
    ids = data.ids
    rng = data.rng
    model.eval()
    out = []
    for k in (2, 4, 8, 16):
        group = []
        for _ in range(n // 4):
            it = data.item()
            p = data.prompt(it)
            resp = data.response(it)
            r = rng.uniform(0.3, 1.0)
            noisy = [ids.mask if rng.random() < r else t for t in resp]
            group.append([it, p, p + noisy, rng.random() < 0.5])
        rows = [g[2] for g in group]
        while any(ids.mask in row for row in rows):
            logits, _ = decoding._forward(model, rows, ids.pad)
            for b, (it, p, row, random_order) in enumerate(group):
                masked = [i for i, t in enumerate(row) if t == ids.mask]
                if not masked:
                    continue
                l = logits[b, :len(row)].clone()
                l[:, ids.delete] = float("-inf")
                x0 = l.argmax(-1)
                if random_order:
                    chosen = rng.sample(masked, min(k, len(masked)))
                else:
                    l[:, ids.pad] = float("-inf")
                    conf = torch.softmax(l, -1).gather(-1, x0[:, None])[:, 0]
                    chosen = sorted(masked, key=lambda i: -float(conf[i]))[:k]
                for i in chosen:
                    row[i] = int(x0[i])
        for it, p, row, _ in group:
            tr = decoding.RowTrace(len(p), list(row))
            decoding.between_stages(tr, ids, True)
            if rng.random() < 0.3:
                decoding.edit_rounds(model, [tr], 1, ids, cap=len(tr.tokens) + 8)
            out.append((it, p, tr.tokens[len(p):]))
    model.train()
    return out


def edit_batch(data, pool, batch_size, clean_share=0.35):
    ids = data.ids
    rows, curs, nxts, plens = [], [], [], []
    for _ in range(batch_size):
        if data.rng.random() < clean_share:
            it = data.item()
            p = data.prompt(it)
            draft = data.rng.choice(data.answers(it))
        else:
            it, p, draft = data.rng.choice(pool)
        refs = data.answers(it)
        ref = refs[labels.nearest(draft, refs)]
        cur, nxt = labels.edit_labels(draft, ref, ids.delete)
        rows.append(p + draft)
        curs.append(cur)
        nxts.append(nxt)
        plens.append(len(p))
    x, att = pad_rows(rows, ids.pad)
    b, n = x.shape
    cur_t = torch.full((b, n), -100, dtype=torch.long)
    nxt_t = torch.full((b, n), -100, dtype=torch.long)
    for r in range(b):
        p, m = plens[r], len(curs[r])
        if m:
            cur_t[r, p:p + m] = torch.tensor(curs[r])
            # next-token head at p - 1 + g predicts gap g (g < m); gap m has no label
            nxt_t[r, p - 1:p - 1 + m] = torch.tensor(nxts[r][:m])
    return x, att, cur_t, nxt_t


def gate2(model, data, items, rounds=4):
    """Share of reference answers that edit rounds leave unchanged."""
    ids = data.ids
    model.eval()
    traces = []
    for it in items:
        p = data.prompt(it)
        ans = data.answers(it)[0]
        traces.append(decoding.RowTrace(len(p), p + ans))
    refs = [list(t.tokens) for t in traces]
    for s in range(0, len(traces), 64):
        decoding.edit_rounds(model, traces[s:s + 64], rounds, ids, cap=128)
    model.train()
    same = [t.tokens == r for t, r in zip(traces, refs)]
    return 100.0 * sum(same) / len(same)


def train_edit(args):
    torch.manual_seed(args.seed + 1)
    model, ck = bundle.load_checkpoint(os.path.join(args.out, "mask.pt"))
    tok = Tokenizer.load(os.path.join(args.out, "tokenizer.json"))
    data = Data(tok, args.seed + 1)
    opt = make_optimizer(model, args.edit_lr)
    ck_path = os.path.join(args.out, "edit.pt")
    step = resume(ck_path, model, opt, data)
    if step:
        log(args.out, f"resumed edit stage at step {step}")
    probe_items = corpus.heldout_sample(128, seed=1)
    gate_items = corpus.heldout_sample(128, seed=2)
    log(args.out, f"edit stage start: gate2 before = {gate2(model, data, gate_items):.1f}% unchanged")
    model.train()
    pool, pool_uses = [], 0
    t_draft = t_train = 0.0
    while step < args.edit_steps:
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args.edit_steps, args.edit_lr, warmup=50)
        t0 = time.time()
        if step % 2 == 0:
            x, att, clean, cur_w, nxt_t, nxt_w = mask_batch(data, args.batch)
            logits, next_logits, _ = model(x, att)
            loss_cur = weighted_ce(logits, clean, cur_w)
            loss_nxt = weighted_ce(next_logits, nxt_t, nxt_w)
        else:
            if not pool or pool_uses >= 4:
                td = time.time()
                pool, pool_uses = make_drafts(model, data, 128), 0
                t_draft += time.time() - td
            pool_uses += 1
            x, att, cur_t, nxt_t = edit_batch(data, pool, args.batch)
            logits, next_logits, _ = model(x, att)
            ones = torch.ones(cur_t.shape)
            loss_cur = weighted_ce(logits, cur_t, ones)
            loss_nxt = weighted_ce(next_logits, nxt_t, ones)
        optimise(model, opt, loss_cur + loss_nxt)
        step += 1
        t_train += time.time() - t0
        if step % 20 == 0:
            kind = "mask" if step % 2 == 1 else "edit"
            log(args.out, f"edit-stage step {step}/{args.edit_steps} ({kind}) loss cur {loss_cur.item():.4f} "
                          f"nxt {loss_nxt.item():.4f} drafting {100 * t_draft / max(1e-9, t_train):.0f}% of time")
        if step % 200 == 0 or step == args.edit_steps:
            g2 = gate2(model, data, gate_items)
            m, e = decoding.budget_split(G, 0.25)
            acc, code, math_, rounds, _ = probe(model, data, probe_items, m, e)
            log(args.out, f"probe edit step {step}: gate2 {g2:.1f}% unchanged; 1/4 mask+edit acc {acc:.1f}% "
                          f"(code {code:.1f}, math {math_:.1f}), rounds {rounds:.2f}")
            save(ck_path, model, opt, step, data)
    log(args.out, "edit stage done")
