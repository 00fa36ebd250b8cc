import os

from conftest import REPO
from labels import IGNORE, align, apply_labels, distance, edit_labels, nearest
from tokenizer import Tokenizer

DEL = -1
TOK = Tokenizer.load(os.path.join(REPO, "onnx", "medlm-tiny", "tokenizer.json"))
END = TOK.token_id("<|im_end|>")

REFERENCE = "def sum_gt(xs):\n    total = 0\n    for x in xs:\n        if x > 9:\n            total += x\n    return total"


def rounds_to_fix(draft, ref, limit=10):
    """Apply perfect labels round after round; returns (rounds, final)."""
    for r in range(limit + 1):
        if draft == ref:
            return r, draft
        cur, nxt = edit_labels(draft, ref, DEL)
        draft = apply_labels(draft, cur, nxt, DEL)
    return None, draft


def enc(text):
    return TOK.encode(text) + [END]


def test_identity_keeps_everything():
    ref = enc(REFERENCE)
    cur, nxt = edit_labels(ref, ref, DEL)
    assert cur == ref
    assert nxt[:-1] == ref  # the next head predicts the token that follows: no insertion anywhere
    assert nxt[-1] == IGNORE


def test_missing_colon_is_restored_in_one_round():
    ref = enc(REFERENCE)
    draft = enc(REFERENCE.replace("if x > 9:", "if x > 9"))
    assert distance(draft, ref) >= 1
    rounds, final = rounds_to_fix(draft, ref)
    assert final == ref and rounds == 1


def test_stray_token_is_deleted_in_one_round():
    ref = enc(REFERENCE)
    draft = enc(REFERENCE.replace("return total", "return return total"))
    cur, _ = edit_labels(draft, ref, DEL)
    assert cur.count(DEL) == 1
    rounds, final = rounds_to_fix(draft, ref)
    assert final == ref and rounds == 1


def test_missing_total_line_is_inserted():
    ref = enc(REFERENCE)
    draft = enc(REFERENCE.replace("    total = 0\n", ""))
    missing = len(ref) - len(draft)
    assert missing >= 3
    rounds, final = rounds_to_fix(draft, ref)
    assert final == ref
    # at most one insertion per gap per round: m missing tokens take at most m rounds (fewer when the
    # alignment can spread them over several gaps)
    assert 1 <= rounds <= missing


def test_replacement_of_inconsistent_name():
    ref = enc(REFERENCE)
    draft = enc(REFERENCE.replace("total += x", "total += v"))
    cur, nxt = edit_labels(draft, ref, DEL)
    assert sum(1 for a, b in zip(draft, cur) if a != b) == 1
    assert apply_labels(draft, cur, nxt, DEL) == ref


def test_canonical_order_prefers_keep_then_replace():
    ops = [k for k, _, _ in align([1, 2, 3], [1, 5, 3])]
    assert ops == ["KEEP", "REPLACE", "KEEP"]
    ops = [k for k, _, _ in align([1, 2, 3], [1, 3])]
    assert ops == ["KEEP", "DELETE", "KEEP"]
    ops = [k for k, _, _ in align([1, 3], [1, 2, 3])]
    assert ops == ["KEEP", "INSERT", "KEEP"]


def test_insertion_equal_to_following_token_moves_right():
    # draft a b END, clean a b b END: inserting b before b is invisible to the decoder
    draft, ref = [7, 8, END], [7, 8, 8, END]
    cur, nxt = edit_labels(draft, ref, DEL)
    assert apply_labels(draft, cur, nxt, DEL) == ref


def test_random_drafts_converge():
    import random
    rng = random.Random(0)
    vocab = list(range(10))
    for _ in range(300):
        ref = [rng.choice(vocab) for _ in range(rng.randint(0, 12))] + [END]
        draft = list(ref[:-1])
        for _ in range(rng.randint(0, 4)):
            op = rng.random()
            if op < 0.33 and draft:
                draft[rng.randrange(len(draft))] = rng.choice(vocab)
            elif op < 0.66 and draft:
                del draft[rng.randrange(len(draft))]
            else:
                draft.insert(rng.randint(0, len(draft)), rng.choice(vocab))
        draft.append(END)
        rounds, final = rounds_to_fix(draft, ref, limit=20)
        assert final == ref, (draft, ref)
        # each round never increases the distance
        d = distance(draft, ref)
        cur, nxt = edit_labels(draft, ref, DEL)
        assert distance(apply_labels(draft, cur, nxt, DEL), ref) < max(d, 1)


def test_nearest_picks_closest_reference():
    refs = [[1, 2, 3, END], [1, 9, 9, 9, END], [4, 2, 3, END]]
    assert nearest([1, 2, 4, END], refs) == 0
    assert nearest([1, 9, 9, END], refs) == 1
