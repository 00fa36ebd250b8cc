"""Generated corpus of small code and math tasks, each with several valid answers.

Code: a function over a list parameter with a constant k, in three styles (for-each loop, index loop,
builtin/comprehension) with free accumulator and loop names that must be used consistently.
Math: one- and two-step word problems over small numbers, with several computation orders and
final-answer phrasings. Parallel decoding can mix two valid answers into an invalid one (a loop over
`v` that adds `x`); that is the failure the edit stage repairs.

Every item carries what checks it: `tests` (calls and expected results) for code, `answer` for math.
Held-out prompts are those whose crc32 % 5 == 0; they never appear in training.
"""
import json
import random
import re
import subprocess
import sys
import zlib

PARAMS = ["xs", "ys", "nums", "vals", "items", "data"]
LOOP_VARS = ["x", "v", "n", "e"]
INDEX_VARS = ["i", "j", "idx"]
ACCS = ["total", "acc", "res", "s"]
LISTS = ["out", "result", "acc", "res"]

# name: (description, python reference taking (list, k))
CODE_TASKS = {
    "sum_gt": lambda a, k: sum(x for x in a if x > k),
    "count_gt": lambda a, k: sum(1 for x in a if x > k),
    "count_eq": lambda a, k: sum(1 for x in a if x == k),
    "add_k": lambda a, k: [x + k for x in a],
    "mul_k": lambda a, k: [x * k for x in a],
    "keep_lt": lambda a, k: [x for x in a if x < k],
    "max_k": lambda a, k: max(a + [k]),
    "min_k": lambda a, k: min(a + [k]),
}

CODE_INPUTS = [[], [3], [1, 5, 9], [12, 4, 7, 0], [2, 2, 8, 15, 6], [19, 3, 11, 11, 5, 1], [7, 14, 0, 18, 9, 13, 4]]


def _code_variants(task, p, k):
    """All valid answers (as text) for one code prompt."""
    out = []
    head = f"def {task}({p}):\n"
    for e in LOOP_VARS:
        for i in INDEX_VARS:
            for a in ACCS:
                fe, ix = (e, f"{p}[{i}]")
                loop_fe = f"    for {e} in {p}:\n"
                loop_ix = f"    for {i} in range(len({p})):\n"
                if task in ("sum_gt", "count_gt", "count_eq"):
                    cond = ">" if task != "count_eq" else "=="
                    inc_fe = e if task == "sum_gt" else "1"
                    inc_ix = ix if task == "sum_gt" else "1"
                    out.append(head + f"    {a} = 0\n" + loop_fe + f"        if {fe} {cond} {k}:\n            {a} += {inc_fe}\n    return {a}")
                    out.append(head + f"    {a} = 0\n" + loop_ix + f"        if {ix} {cond} {k}:\n            {a} += {inc_ix}\n    return {a}")
                elif task in ("max_k", "min_k"):
                    cmp = ">" if task == "max_k" else "<"
                    out.append(head + f"    {a} = {k}\n" + loop_fe + f"        if {fe} {cmp} {a}:\n            {a} = {fe}\n    return {a}")
                    out.append(head + f"    {a} = {k}\n" + loop_ix + f"        if {ix} {cmp} {a}:\n            {a} = {ix}\n    return {a}")
            for r in LISTS:
                if task in ("add_k", "mul_k"):
                    op = "+" if task == "add_k" else "*"
                    out.append(head + f"    {r} = []\n    for {e} in {p}:\n        {r}.append({e} {op} {k})\n    return {r}")
                    out.append(head + f"    {r} = []\n    for {i} in range(len({p})):\n        {r}.append({p}[{i}] {op} {k})\n    return {r}")
                elif task == "keep_lt":
                    out.append(head + f"    {r} = []\n    for {e} in {p}:\n        if {e} < {k}:\n            {r}.append({e})\n    return {r}")
                    out.append(head + f"    {r} = []\n    for {i} in range(len({p})):\n        if {p}[{i}] < {k}:\n            {r}.append({p}[{i}])\n    return {r}")
        # builtin / comprehension style
        if task in COMPREHENSIONS:
            out.append(head + "    return " + COMPREHENSIONS[task].format(e=e, p=p, k=k))
    if task in BUILTINS:
        out.append(head + "    return " + BUILTINS[task].format(p=p, k=k))
    return sorted(set(out))


# The one-line answers: a comprehension over loop variable {e} (one per loop name), and builtin calls.
COMPREHENSIONS = {
    "sum_gt": "sum({e} for {e} in {p} if {e} > {k})",
    "count_gt": "len([{e} for {e} in {p} if {e} > {k}])",
    "count_eq": "len([{e} for {e} in {p} if {e} == {k}])",
    "add_k": "[{e} + {k} for {e} in {p}]",
    "mul_k": "[{e} * {k} for {e} in {p}]",
    "keep_lt": "[{e} for {e} in {p} if {e} < {k}]",
}
BUILTINS = {
    "count_eq": "{p}.count({k})",
    "max_k": "max({p} + [{k}])",
    "min_k": "min({p} + [{k}])",
}


NAMES = ["ann", "bob", "cal", "dan", "eve", "fay", "gus", "hal", "ivy", "jo", "kim", "lee", "max", "ned", "ola", "pam"]
OBJECTS = ["apples", "pens", "cards", "coins", "books", "eggs", "cups", "hats", "keys", "toys"]


def _math_item(rng_choice, name, obj, kind, a, b, c):
    """Prompt and valid answers for one math problem. kind in add, sub, mul, add_sub, sub_add, mul_add."""
    if kind == "add":
        prompt = f"{name} has {a} {obj} and gets {b} more. how many {obj} now?"
        ans = a + b
        lines = [[f"{a} + {b} = {ans}"], [f"{b} + {a} = {ans}"]]
    elif kind == "sub":
        prompt = f"{name} has {a} {obj} and gives away {b}. how many {obj} now?"
        ans = a - b
        lines = [[f"{a} - {b} = {ans}"]]
    elif kind == "mul":
        prompt = f"{name} has {a} bags with {b} {obj} each. how many {obj}?"
        ans = a * b
        lines = [[f"{a} * {b} = {ans}"], [f"{b} * {a} = {ans}"]]
    elif kind == "add_sub":
        prompt = f"{name} has {a} {obj}, gets {b} more and gives away {c}. how many {obj} now?"
        m = a + b
        ans = m - c
        lines = [[f"{a} + {b} = {m}", f"{m} - {c} = {ans}"], [f"{b} + {a} = {m}", f"{m} - {c} = {ans}"]]
        if a - c >= 0:
            lines.append([f"{a} - {c} = {a - c}", f"{a - c} + {b} = {ans}"])
    elif kind == "mul_add":
        prompt = f"{name} has {a} bags with {b} {obj} each and {c} more {obj}. how many {obj}?"
        m = a * b
        ans = m + c
        lines = [[f"{a} * {b} = {m}", f"{m} + {c} = {ans}"], [f"{b} * {a} = {m}", f"{m} + {c} = {ans}"],
                 [f"{a} * {b} = {m}", f"{c} + {m} = {ans}"]]
    else:
        raise ValueError(kind)
    answers = []
    for ls in lines:
        for final in (f"answer {ans}", f"so {ans}"):
            answers.append("\n".join(ls + [final]))
    return prompt, ans, sorted(set(answers))


def is_heldout(prompt):
    return zlib.crc32(prompt.encode()) % 5 == 0


def code_tests(task, k):
    fn = CODE_TASKS[task]
    return [[inp, fn(list(inp), k)] for inp in CODE_INPUTS]


def all_items():
    """Every prompt of the task space, deterministic order."""
    items = []
    for task in CODE_TASKS:
        for p in PARAMS:
            for k in range(0, 30):
                prompt = f"write {task}({p}) with k = {k}"
                items.append({"kind": "code", "task": task, "prompt": prompt, "entry_point": task,
                              "tests": code_tests(task, k), "answers": _code_variants(task, p, k)})
    for kind in ("add", "sub", "mul", "add_sub", "mul_add"):
        for a in range(1, 10):
            for b in range(1, 10):
                cs = [0] if kind in ("add", "sub", "mul") else list(range(1, 10))
                for c in cs:
                    if kind == "sub" and a - b < 0:
                        continue
                    if kind == "add_sub" and a + b - c < 0:
                        continue
                    for name in NAMES:
                        for obj in OBJECTS:
                            prompt, ans, answers = _math_item(None, name, obj, kind, a, b, c)
                            items.append({"kind": "math", "task": kind, "prompt": prompt, "answer": ans,
                                          "answers": answers})
    return items


def split(seed=0):
    """(train, heldout): held-out prompts never appear in train."""
    items = all_items()
    train = [it for it in items if not is_heldout(it["prompt"])]
    held = [it for it in items if is_heldout(it["prompt"])]
    return train, held


def heldout_sample(n, seed=0):
    """A balanced sample of held-out items: half code, half math."""
    _, held = split()
    rng = random.Random(seed)
    code = [it for it in held if it["kind"] == "code"]
    math = [it for it in held if it["kind"] == "math"]
    rng.shuffle(code)
    rng.shuffle(math)
    half = n // 2
    out = code[:half] + math[: n - half]
    rng.shuffle(out)
    return out


# ---------------------------------------------------------------- checking

_NUM = re.compile(r"-?\d+")


def check_math(text, answer):
    boxed = re.findall(r"\\boxed\{([^}]*)\}", text)
    if boxed:
        nums = _NUM.findall(boxed[-1])
    else:
        nums = _NUM.findall(text)
    return bool(nums) and int(nums[-1]) == int(answer)


def check_code_batch(texts, items, timeout=20.0):
    """Execute each completion against its tests in ONE python3 subprocess; returns list of bools."""
    progs = []
    for text, it in zip(texts, items):
        progs.append({"code": text, "entry": it["entry_point"], "tests": it["tests"]})
    runner = r"""
import json, sys
progs = json.loads(sys.stdin.read())
res = []
for p in progs:
    ok = False
    try:
        env = {}
        exec(compile(p["code"], "<answer>", "exec"), env)
        f = env[p["entry"]]
        ok = all(f(list(inp)) == exp for inp, exp in p["tests"])
    except BaseException:
        ok = False
    res.append(ok)
print(json.dumps(res))
"""
    r = subprocess.run([sys.executable, "-c", runner], input=json.dumps(progs), capture_output=True,
                       text=True, timeout=timeout)
    return json.loads(r.stdout)


def check(texts, items):
    out = [False] * len(texts)
    code_idx = [i for i, it in enumerate(items) if it["kind"] == "code"]
    if code_idx:
        res = check_code_batch([texts[i] for i in code_idx], [items[i] for i in code_idx])
        for i, ok in zip(code_idx, res):
            out[i] = ok
    for i, it in enumerate(items):
        if it["kind"] == "math":
            out[i] = check_math(texts[i], it["answer"])
    return out
