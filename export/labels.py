"""Edit labels: a Levenshtein alignment of a draft to the reference, read as per-position head targets.

Alignment: minimum edit distance, backtracked from the end with the canonical preference
KEEP > REPLACE > DELETE > INSERT. Targets (IGNORE where no label):
- cur[j] for draft position j: the draft token (KEEP), the clean token (REPLACE) or DEL (DELETE);
- nxt[g] for gap g (g = 0..n; gap g sits before draft position g; the head that predicts it is the
  next-token head at position g-1): the first token to insert in that gap, else the token that will
  follow (the corrected token at the first non-deleted position >= g). Gap n is IGNORE.
Decoding emits nxt[g] before cur[g] only when they differ, so an insertion X in front of a token that
becomes X is moved one gap right (the same sequence results); the decoder inserts at most one token per
gap per round, so further insertions in a gap wait for the next round.
"""
IGNORE = -100


def distance_table(a, b):
    n, m = len(a), len(b)
    dp = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(1, n + 1):
        dp[i][0] = i
    for j in range(1, m + 1):
        dp[0][j] = j
    for i in range(1, n + 1):
        ai = a[i - 1]
        row, prev = dp[i], dp[i - 1]
        for j in range(1, m + 1):
            best = prev[j - 1] + (0 if ai == b[j - 1] else 1)
            if prev[j] + 1 < best:
                best = prev[j] + 1
            if row[j - 1] + 1 < best:
                best = row[j - 1] + 1
            row[j] = best
    return dp


def distance(a, b):
    return distance_table(a, b)[len(a)][len(b)]


def align(noisy, clean):
    """List of ops (kind, noisy_token, clean_token), kind in KEEP, REPLACE, DELETE, INSERT."""
    dp = distance_table(noisy, clean)
    ops = []
    i, j = len(noisy), len(clean)
    while i > 0 or j > 0:
        if i > 0 and j > 0 and noisy[i - 1] == clean[j - 1] and dp[i][j] == dp[i - 1][j - 1]:
            ops.append(("KEEP", noisy[i - 1], clean[j - 1]))
            i, j = i - 1, j - 1
        elif i > 0 and j > 0 and dp[i][j] == dp[i - 1][j - 1] + 1:
            ops.append(("REPLACE", noisy[i - 1], clean[j - 1]))
            i, j = i - 1, j - 1
        elif i > 0 and dp[i][j] == dp[i - 1][j] + 1:
            ops.append(("DELETE", noisy[i - 1], None))
            i -= 1
        else:
            ops.append(("INSERT", None, clean[j - 1]))
            j -= 1
    ops.reverse()
    return ops


def edit_labels(noisy, clean, del_id):
    """(cur targets [n], nxt targets [n + 1]) for a draft `noisy` against the reference `clean`."""
    n = len(noisy)
    cur = [IGNORE] * n
    gaps = [[] for _ in range(n + 1)]
    j = 0
    for kind, _, c in align(noisy, clean):
        if kind == "INSERT":
            gaps[j].append(c)
        elif kind == "KEEP":
            cur[j] = noisy[j]
            j += 1
        elif kind == "REPLACE":
            cur[j] = c
            j += 1
        else:
            cur[j] = del_id
            j += 1
    # An insertion equal to the token it would precede is invisible to the decoder: move it right.
    for g in range(n):
        while gaps[g] and cur[g] == gaps[g][0] and g + 1 <= n and not gaps[g + 1]:
            gaps[g + 1].append(gaps[g].pop(0))
            break
    nxt = [IGNORE] * (n + 1)
    follow = IGNORE
    for g in range(n - 1, -1, -1):
        if cur[g] != del_id:
            follow = cur[g]
        nxt[g] = gaps[g][0] if gaps[g] else follow
    if gaps[n]:
        nxt[n] = gaps[n][0]
    return cur, nxt


def apply_labels(noisy, cur, nxt, del_id):
    """What one decoder edit round does with perfect heads (for tests and label checks)."""
    out = []
    for g in range(len(noisy)):
        if cur[g] == del_id:
            continue
        if nxt[g] != IGNORE and nxt[g] != cur[g]:
            out.append(nxt[g])
        out.append(cur[g])
    return out  # gap n has no position to ride on: the decoder never inserts there


def nearest(noisy, references):
    """Index of the reference with the smallest edit distance to noisy (first on ties)."""
    best, best_d = 0, None
    for k, ref in enumerate(references):
        if best_d is not None and abs(len(ref) - len(noisy)) >= best_d:
            continue
        d = distance(noisy, ref)
        if best_d is None or d < best_d:
            best, best_d = k, d
    return best
