import torch

import decoding
from decoding import SpecialIds, apply_edits, schedule, top_positions
from model import MeDlmConfig, MeDlmModel

V = 12
IDS = SpecialIds(mask=11, pad=10, delete=9, end=8)


class TableModel(torch.nn.Module):
    """Logits as a fixed function of position: hand-checkable decoding (the real network is covered
    by the golden files). `cur(pos, row)` / `nxt(pos, row)` return {token: logit} dicts."""

    def __init__(self, cur, nxt=None):
        super().__init__()
        self.cur, self.nxt = cur, nxt or (lambda pos, row: {})
        self.config = MeDlmConfig(vocab_size=V, max_position_embeddings=64)

    def forward(self, ids, att):
        b, n = ids.shape
        lo = torch.full((b, n, V), -10.0)
        nx = torch.full((b, n, V), -10.0)
        for r in range(b):
            row = ids[r].tolist()
            for i in range(n):
                for t, v in self.cur(i, row).items():
                    lo[r, i, t] = v
                for t, v in self.nxt(i, row).items():
                    nx[r, i, t] = v
        return lo, nx, None


def test_schedule_base_plus_remainder():
    assert schedule(10, 4) == [3, 3, 2, 2]
    assert schedule(3, 5) == [1, 1, 1, 0, 0]
    assert sum(schedule(48, 36)) == 48


def test_top_positions_ties_lower_and_skips_neg_inf():
    s = torch.tensor([0.5, 0.9, 0.5, float("-inf"), 0.9])
    assert top_positions(s, 3) == [1, 4, 0]
    assert top_positions(s, 10) == [1, 4, 0, 2]
    assert top_positions(s, 0) == []


def test_medlm_commits_most_confident_first_and_pad_last():
    # prompt [1, 2]; position 2 is confident token 3, position 3 mildly token 4, position 4 argmax PAD
    def cur(i, row):
        return {2: {3: 9.0}, 3: {4: 2.0, 5: 1.5}, 4: {IDS.pad: 5.0, 6: 4.0}, 5: {IDS.delete: 20.0, 7: 1.0}}.get(i, {1: 1.0})
    m = TableModel(cur)
    tr = decoding.medlm_stage1(m, [[1, 2]], gen_length=4, steps=4, ids=IDS)[0]
    assert tr.commits == [[2], [5], [3], [4]]  # DEL is banned, so position 5 commits token 7 with high conf
    assert tr.tokens == [1, 2, 3, 4, IDS.pad, 7]
    decoding.between_stages(tr, IDS, edits_follow=True)
    assert tr.tokens == [1, 2, 3, 4, IDS.end]  # PAD dropped, last token -> END


def test_between_stages_leaves_empty_response_alone():
    tr = decoding.RowTrace(2, [1, 2, IDS.pad, IDS.pad])
    decoding.between_stages(tr, IDS, True)
    assert tr.tokens == [1, 2]


def test_apply_edits_delete_insert_replace_and_prompt():
    x = [1, 2, 3, 4, 5]
    cur = [7, 2, 3, IDS.delete, 6]   # prompt pos 0 ignored; 4 deleted; 5 -> 6 replaced
    nxt = [7, 2, 0, 4, 6]            # insert 0 before position 2; prompt pos 0 ignored
    out, counts, fixed = apply_edits(x, cur, nxt, prompt_len=2, delete_id=IDS.delete, cap=10)
    assert out == [1, 2, 0, 3, 6]
    assert counts == {"replaced": 1, "deleted": 1, "inserted": 1}
    assert not fixed


def test_apply_edits_insertion_before_deleted_token_is_lost_and_cap_keeps_earliest():
    x = [1, 3, 4, 5]
    out, counts, _ = apply_edits(x, [1, 3, IDS.delete, 5], [1, 3, 7, 5], 1, IDS.delete, cap=10)
    assert out == [1, 3, 5] and counts["inserted"] == 0
    out, counts, _ = apply_edits(x, [1, 3, 4, 5], [1, 6, 7, 8], 1, IDS.delete, cap=6)
    assert out == [1, 6, 3, 7, 4, 5] and counts["inserted"] == 2


def test_apply_edits_fixed_point():
    x = [1, 2, 3]
    _, _, fixed = apply_edits(x, [9, 2, 3], [9, 2, 3], 1, IDS.delete, cap=10)
    assert fixed  # prompt positions are forced, so a prompt disagreement does not count


def test_edit_rounds_stop_at_fixed_point():
    # the heads agree with the canvas: the first round finds the fixed point and the row leaves
    m = TableModel(lambda i, row: {row[i]: 5.0}, lambda i, row: {row[i + 1] if i + 1 < len(row) else 0: 5.0})
    tr = decoding.RowTrace(1, [1, 2, 3, IDS.end])
    decoding.edit_rounds(m, [tr], 8, IDS, cap=32)
    assert tr.edit_rounds == 1 and tr.tokens == [1, 2, 3, IDS.end]


def test_edit_rounds_repairs_then_stops():
    target = [1, 2, 3, 4, IDS.end]

    def cur(i, row):  # the token a position should hold: delete the stray 7, else keep
        return {IDS.delete if row[i] == 7 else row[i]: 5.0}

    def nxt(i, row):  # what should follow each token: the missing 3 after 2; the stray 7 predicts END
        follow = {1: 2, 2: 3, 3: 4, 4: IDS.end, 7: IDS.end}
        return {follow.get(row[i], 0): 5.0}

    m = TableModel(cur, nxt)
    tr = decoding.RowTrace(1, [1, 2, 4, 7, IDS.end])
    decoding.edit_rounds(m, [tr], 8, IDS, cap=32)
    assert tr.tokens == target
    assert tr.edits == {"replaced": 0, "deleted": 1, "inserted": 1}
    assert tr.edit_rounds == 2  # one round edits, the next finds the fixed point


def test_llada_blocks_commit_only_inside_current_block():
    m = TableModel(lambda i, row: {i % 7: 3.0 + (i % 3)})
    tr = decoding.llada_generate(m, [[1, 2, 3]], gen_length=8, steps=4, ids=IDS, block_length=4)[0]
    assert len(tr.commits) == 4
    for step, pos in enumerate(tr.commits):
        lo = 3 + (step // 2) * 4
        assert all(lo <= p < lo + 4 for p in pos) and len(pos) == 2
    assert IDS.mask not in tr.tokens


def test_threshold_commits_all_confident_and_at_least_one():
    # positions 3, 4 very confident, 5 and 6 not: step 1 commits 3 and 4, then one at a time
    def cur(i, row):
        return {5: 12.0} if i in (3, 4) else {5: 1.0, 6: 1.0}
    m = TableModel(cur)
    tr = decoding.llada_generate(m, [[1, 2, 3]], gen_length=4, steps=0, ids=IDS, remasking="threshold", threshold=0.9)[0]
    assert tr.commits == [[3, 4], [5], [6]]


def test_counter_rng_pinned_values():
    k = decoding.rng_key(42, decoding.PURPOSE_GUMBEL, 3, 17)
    u = decoding.rng_uniform(k, 5)
    assert 0.0 < float(u) < 1.0
    # the integer mixer matches the numpy mixer used for arrays
    assert decoding.rng_uniform(k, [5, 6]).tolist()[0] == float(u)
    # pinned: the C# CounterRng tests check the same numbers
    assert decoding._mix64_int(0) == 0
    assert decoding._mix64_int(1) == 0x5692161D100B05E5


def test_batch_equals_alone_on_a_real_network():
    torch.manual_seed(0)
    m = MeDlmModel(MeDlmConfig(vocab_size=V, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                               num_attention_heads=2, num_key_value_heads=2, head_dim=16)).eval()
    prompts = [[1, 2, 3, 4, 5], [6, 7], [2, 3, 4]]
    batch = decoding.medlm_generate(m, prompts, 8, 4, 3, IDS, cap=32)
    for p, t in zip(prompts, batch):
        alone = decoding.medlm_generate(m, [p], 8, 4, 3, IDS, cap=32)[0]
        assert alone.tokens == t.tokens and alone.commits == t.commits


def test_answer_stops_at_the_first_end_or_pad():
    tr = decoding.RowTrace(2, [1, 2, 3, 4, IDS.end, 5, IDS.pad, 6])
    assert decoding.answer(tr, IDS) == [3, 4]
    tr = decoding.RowTrace(1, [1, 3, IDS.pad, IDS.end])
    assert decoding.answer(tr, IDS) == [3]
    assert decoding.answer(decoding.RowTrace(1, [1]), IDS) == []


def test_gate_edits_keeps_only_confident_proposals():
    x = [1, 2, 3, 4, 5]
    cur = [1, 2, 7, IDS.delete, 5]   # replace 3 -> 7 at 2, delete 4 at 3
    nxt = [1, 6, 7, IDS.delete, 8]   # insert 6 before 2 at 1, insert 8 before 5 at 4
    p_cur = [1.0, 1.0, 0.4, 0.95, 1.0]
    p_nxt = [1.0, 0.95, 0.1, 0.1, 0.3]
    g_cur, g_nxt = decoding.gate_edits(x, cur, nxt, p_cur, p_nxt, 1, 0.9)
    assert g_cur == [1, 2, 3, IDS.delete, 5]  # the weak replacement is withdrawn, the confident delete stands
    assert g_nxt == [1, 6, 3, IDS.delete, 5]  # the confident insertion stands, the weak one is withdrawn
    out, counts, fixed = apply_edits(x, g_cur, g_nxt, 1, IDS.delete, cap=10)
    assert out == [1, 6, 2, 3, 5] and counts == {"replaced": 0, "deleted": 1, "inserted": 1} and not fixed
    # threshold 0 changes nothing; threshold above every probability leaves a fixed point
    assert decoding.gate_edits(x, cur, nxt, p_cur, p_nxt, 1, 0.0) == (cur, nxt)
    g_cur, g_nxt = decoding.gate_edits(x, cur, nxt, p_cur, p_nxt, 1, 1.0 + 1e-9)
    assert apply_edits(x, g_cur, g_nxt, 1, IDS.delete, cap=10)[2]


def test_edit_threshold_stops_a_weak_correction():
    # the current head mildly prefers 6 over the 4 at position 2: ungated it replaces, gated it is a fixed point
    def cur(i, row):
        return {6: 2.0, 4: 1.8} if i == 2 else {row[i]: 8.0}

    def nxt(i, row):  # the head at 1 agrees with the correction (so no insertion is proposed), confidently
        return {6: 8.0} if i == 1 else {row[i + 1] if i + 1 < len(row) else 0: 8.0}

    m = TableModel(cur, nxt)
    loose = decoding.RowTrace(1, [1, 2, 4, IDS.end])
    decoding.edit_rounds(m, [loose], 1, IDS, cap=32)
    assert loose.tokens == [1, 2, 6, IDS.end]
    gated = decoding.RowTrace(1, [1, 2, 4, IDS.end])
    decoding.edit_rounds(m, [gated], 4, IDS, cap=32, edit_threshold=0.9)
    assert gated.tokens == [1, 2, 4, IDS.end] and gated.edit_rounds == 1 and gated.edits["replaced"] == 0


def test_switch_commits_the_confident_rest_and_ends_stage_one():
    # position 3 very confident, 4 and 5 fairly (about 0.73): threshold 0.9 commits 3 alone, the switch at 0.7
    # commits 4 and 5 in the same pass
    def cur(i, row):
        return {5: 14.0} if i == 3 else {5: 0.0, 6: -1.0}
    m = TableModel(cur)
    plain = decoding.llada_generate(m, [[1, 2, 3]], 3, 0, IDS, remasking="threshold", threshold=0.9)[0]
    assert plain.commits == [[3], [4], [5]]
    tr = decoding.llada_generate(m, [[1, 2, 3]], 3, 0, IDS, remasking="threshold", threshold=0.9,
                                 switch_threshold=0.7)[0]
    assert tr.commits == [[3, 4, 5]] and tr.mask_passes == 1 and IDS.mask not in tr.tokens
    # a schedule algorithm stops early too, and medlm likewise
    tr = decoding.llada_generate(m, [[1, 2, 3]], 3, 3, IDS, switch_threshold=0.7)[0]
    assert tr.commits == [[3, 4, 5]]
    tr = decoding.medlm_stage1(m, [[1, 2, 3]], 3, 3, IDS, switch_threshold=0.7)[0]
    assert tr.commits == [[3, 4, 5]] and tr.mask_passes == 1
    # medlm ranks a PAD prediction at confidence 0 (committed last), but the switch reads its real probability:
    # a confident PAD tail is committed at once
    padded = TableModel(lambda i, row: {5: 14.0} if i == 3 else {IDS.pad: 14.0})
    tr = decoding.medlm_stage1(padded, [[1, 2, 3]], 3, 3, IDS, switch_threshold=0.9)[0]
    assert tr.commits == [[3, 4, 5]] and tr.tokens == [1, 2, 3, 5, IDS.pad, IDS.pad]
    unsure = TableModel(lambda i, row: {5: 14.0} if i == 3 else {IDS.pad: 1.0, 6: 0.5})
    tr = decoding.medlm_stage1(unsure, [[1, 2, 3]], 3, 3, IDS, switch_threshold=0.9)[0]
    assert tr.mask_passes == 3


def test_switch_in_blocks_waits_for_the_last_block():
    m = TableModel(lambda i, row: {5: 14.0})
    tr = decoding.llada_generate(m, [[1, 2, 3]], 4, 4, IDS, block_length=2, switch_threshold=0.5)[0]
    assert tr.commits == [[3], [4], [5, 6]]


def test_llada_edit_generate_runs_edits_after_threshold_and_batch_equals_alone():
    torch.manual_seed(1)
    m = MeDlmModel(MeDlmConfig(vocab_size=V, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                               num_attention_heads=2, num_key_value_heads=2, head_dim=16)).eval()
    prompts = [[1, 2, 3, 4, 5], [6, 7], [2, 3, 4]]
    kw = dict(remasking="threshold", threshold=0.3, switch_threshold=0.2, cap=32, edit_threshold=0.2)
    batch = decoding.llada_edit_generate(m, prompts, 8, 3, IDS, **kw)
    for p, t in zip(prompts, batch):
        alone = decoding.llada_edit_generate(m, [p], 8, 3, IDS, **kw)[0]
        assert alone.tokens == t.tokens and alone.commits == t.commits and alone.edit_rounds == t.edit_rounds
        assert t.draft[-1] == IDS.end or not t.draft  # between stages ran: edits follow
