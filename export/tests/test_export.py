"""export_onnx.py: the graph contract (names, element types, symbolic dims), the manifest, the variants
(no edit head, float16, top-K, external data), the golden file, and the graphs' numbers (numpy interpreter)."""
import json
import os

import numpy as np
import onnx
import pytest
import torch

HERE = os.path.dirname(os.path.abspath(__file__))

import bundle
import export_onnx as E
import onnx_numpy
from model import MeDlmConfig, MeDlmModel
from tokenizer import Tokenizer, train as train_tokenizer

BUNDLED_TOKENIZER = os.path.join(HERE, "..", "..", "onnx", "medlm-tiny", "tokenizer.json")
BUNDLED = os.path.join(HERE, "..", "..", "onnx", "medlm-tiny")
FLOAT, FLOAT16, INT64 = onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.INT64
# ops the numpy interpreter knows; a new op in the graph is a change the C# runtime team should hear about
KNOWN_OPS = {"Add", "Cast", "Concat", "Constant", "Cos", "Div", "Gather", "Identity", "MatMul", "Mul", "Neg", "Pow",
             "Range", "ReduceMean", "Reshape", "Shape", "Sigmoid", "Sin", "Slice", "Softmax", "Sqrt", "Sub",
             "Transpose", "Unsqueeze"}


@pytest.fixture(scope="module")
def tok_path(tmp_path_factory):
    if os.path.exists(BUNDLED_TOKENIZER):
        return BUNDLED_TOKENIZER
    texts = [bundle.chat_prompt(p) for p in E.GOLDEN_PROMPTS] + ["def f(xs):\n    return 1\n"] * 5
    path = str(tmp_path_factory.mktemp("tok") / "tokenizer.json")
    train_tokenizer(texts, num_merges=50).save(path)
    return path


@pytest.fixture(scope="module")
def model(tok_path):
    torch.manual_seed(0)
    vocab = Tokenizer.load(tok_path).vocab_size
    cfg = MeDlmConfig(vocab_size=max(vocab, 600), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=4, head_dim=16, max_position_embeddings=128)
    m = MeDlmModel(cfg)
    with torch.no_grad():
        for n, p in m.named_parameters():
            if p.dim() >= 2:
                p.normal_(0.0, 1.0 if n == "model.embed_tokens.weight" else 0.1)
    return m.eval()


@pytest.fixture(scope="module")
def package(model, tok_path, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("pkg") / "medlm-test")
    manifest = E.export_package(model, tok_path, out, "medlm-test")
    return out, manifest


def io(path):
    """{name: (elem_type, [dim_param or dim_value ...])} of a graph's inputs and outputs."""
    g = onnx.load(path, load_external_data=False).graph
    def sig(v):
        t = v.type.tensor_type
        return t.elem_type, [d.dim_param or d.dim_value for d in t.shape.dim]
    return {v.name: sig(v) for v in g.input}, {v.name: sig(v) for v in g.output}


def test_graphs_pass_the_checker(package):
    out, _ = package
    for f in ("denoiser.onnx", "edit_head.onnx"):
        onnx.checker.check_model(os.path.join(out, f), full_check=True)
        assert onnx.load(os.path.join(out, f)).opset_import[0].version == 17


def test_denoiser_contract(package, model):
    out, _ = package
    ins, outs = io(os.path.join(out, "denoiser.onnx"))
    assert ins == {"input_ids": (INT64, ["batch", "seq"]), "attention_mask": (INT64, ["batch", "seq"])}
    assert outs == {"logits": (FLOAT, ["batch", "seq", model.config.vocab_size]),
                    "hidden_states": (FLOAT, ["batch", "seq", model.config.hidden_size])}
    assert [v.name for v in onnx.load(os.path.join(out, "denoiser.onnx")).graph.output] == ["logits", "hidden_states"]


def test_edit_head_contract_and_weights_once(package, model):
    out, _ = package
    ins, outs = io(os.path.join(out, "edit_head.onnx"))
    assert ins == {"hidden_states": (FLOAT, ["batch", "seq", model.config.hidden_size])}
    assert outs == {"next_token_logits": (FLOAT, ["batch", "seq", model.config.vocab_size])}
    e = onnx.load(os.path.join(out, "edit_head.onnx"))
    assert [(t.name, tuple(t.dims)) for t in e.graph.initializer] == [("next_token_head.weight", (model.config.vocab_size, model.config.hidden_size))]
    # the backbone is not duplicated into the edit head graph
    assert os.path.getsize(os.path.join(out, "edit_head.onnx")) < os.path.getsize(os.path.join(out, "denoiser.onnx")) / 2


def test_ops_are_known(package):
    out, _ = package
    ops = set(onnx_numpy.op_types(onnx.load(os.path.join(out, "denoiser.onnx"))))
    assert ops <= KNOWN_OPS, ops - KNOWN_OPS
    assert "Loop" not in ops


def test_manifest(package, model, tok_path):
    out, manifest = package
    with open(os.path.join(out, "medlm.json"), encoding="utf-8") as f:
        m = json.load(f)
    assert m == manifest
    E.validate_manifest(m, out)
    assert m["format"] == "medlm-package/1" and m["name"] == "medlm-test" and m["architecture"] == "medlm"
    assert m["vocab_size"] == model.config.vocab_size and m["hidden_size"] == model.config.hidden_size
    assert m["max_sequence_length"] == 128 and m["shifted_logits"] is False and m["dtype"] == "float32"
    tok = Tokenizer.load(tok_path)
    ids = bundle.special_ids(tok)
    assert m["special_tokens"] == {"mask": ids.mask, "pad": ids.pad, "delete": ids.delete, "end": ids.end,
                                   "eos": ids.pad}
    assert all(0 <= v < m["vocab_size"] for v in m["special_tokens"].values())
    assert m["graphs"] == {"denoiser": {"file": "denoiser.onnx", "outputs": "full"},
                           "edit_head": {"file": "edit_head.onnx"}}
    assert m["model"] == model.config.to_dict()
    assert m["generation"]["algorithm"] == "medlm" and m["generation"]["gen_length"] == bundle.GEN_LENGTH
    # a plain prompt through the manifest's template is the prompt form the model was trained on
    ct = m["chat_template"]
    assert ct["user"].format(content="hi") + ct["generation_prompt"] == bundle.chat_prompt("hi")
    with open(os.path.join(out, "tokenizer.json"), "rb") as a, open(tok_path, "rb") as b:
        assert a.read() == b.read()


def test_validate_manifest_rejects_bad_ones(package):
    out, manifest = package
    bad = json.loads(json.dumps(manifest))
    bad["special_tokens"]["mask"] = bad["vocab_size"]
    with pytest.raises(ValueError):
        E.validate_manifest(bad)
    bad = json.loads(json.dumps(manifest))
    del bad["graphs"]["edit_head"]
    with pytest.raises(ValueError):
        E.validate_manifest(bad)
    bad = json.loads(json.dumps(manifest))
    bad["vocab_size"] += 1
    with pytest.raises(ValueError):
        E.validate_manifest(bad, out)
    for key, value in (("edit_threshold", 1.5), ("switch_threshold", -0.1), ("edit_rounds", 2.5), ("edit_rounds", -1)):
        bad = json.loads(json.dumps(manifest))
        bad["generation"][key] = value
        with pytest.raises(ValueError, match=key):
            E.validate_manifest(bad)
    good = json.loads(json.dumps(manifest))
    good["generation"].update({"algorithm": "threshold", "edit_rounds": 8, "edit_threshold": 0.9, "switch_threshold": 0.7})
    E.validate_manifest(good)


def test_export_wrapper_matches_model_forward(model):
    ids = torch.randint(0, model.config.vocab_size, (2, 9))
    att = torch.ones_like(ids)
    att[1, 6:] = 0
    with torch.no_grad():
        logits, nxt, h = model(ids, att)
        w_logits, w_h = E.Denoiser(model)(ids, att)
        w_nxt = E.EditHead(model)(w_h)
    assert torch.equal(logits, w_logits) and torch.equal(h, w_h) and torch.equal(nxt, w_nxt)


def test_graph_numbers_match_pytorch(package, model):
    """The exported graphs, run by the numpy interpreter at a batch/length other than the trace's."""
    out, _ = package
    diffs = E.verify_package(model, out)
    assert set(diffs) == {"logits", "hidden_states", "next_token_logits"}
    assert max(diffs.values()) < 1e-4, diffs


def test_dynamic_shapes(package, model):
    out, _ = package
    for b, t in ((1, 1), (3, 17)):
        ids = np.random.RandomState(b).randint(0, model.config.vocab_size, (b, t)).astype(np.int64)
        res = onnx_numpy.run(os.path.join(out, "denoiser.onnx"), {"input_ids": ids, "attention_mask": np.ones_like(ids)})
        assert res["logits"].shape == (b, t, model.config.vocab_size)
        with torch.no_grad():
            ref = model(torch.from_numpy(ids))[0].numpy()
        assert np.abs(res["logits"] - ref).max() < 1e-4


def test_no_edit_head(model, tok_path, tmp_path):
    out = str(tmp_path / "llada")
    m = E.export_package(model, tok_path, out, "llada-test", edit_head=False)
    assert m["architecture"] == "llada" and set(m["graphs"]) == {"denoiser"}
    assert not os.path.exists(os.path.join(out, "edit_head.onnx"))
    E.validate_manifest(m, out)
    assert set(E.verify_package(model, out)) == {"logits", "hidden_states"}


def test_fp16(model, tok_path, tmp_path):
    out = str(tmp_path / "fp16")
    m = E.export_package(model, tok_path, out, "fp16-test", fp16=True)
    assert m["dtype"] == "float16"
    ins, outs = io(os.path.join(out, "denoiser.onnx"))
    assert ins["input_ids"][0] == INT64 and ins["attention_mask"][0] == INT64
    assert outs["logits"] == (FLOAT16, ["batch", "seq", model.config.vocab_size])
    assert outs["hidden_states"][0] == FLOAT16
    ins, outs = io(os.path.join(out, "edit_head.onnx"))
    assert ins["hidden_states"][0] == FLOAT16 and outs["next_token_logits"][0] == FLOAT16
    weights = [t for t in onnx.load(os.path.join(out, "denoiser.onnx")).graph.initializer if len(t.dims) == 2]
    assert weights and all(t.data_type == FLOAT16 for t in weights)
    # the caller's model is left in float32
    assert next(model.parameters()).dtype == torch.float32
    diffs = E.verify_package(model, out)
    assert max(diffs.values()) < 5e-2, diffs


def test_topk(model, tok_path, tmp_path):
    out = str(tmp_path / "topk")
    k = 8
    m = E.export_package(model, tok_path, out, "topk-test", topk=k)
    E.validate_manifest(m, out)
    d = m["graphs"]["denoiser"]
    assert d["outputs"] == "topk" and d["topk"] == k
    sp = m["special_tokens"]
    assert d["special_ids"] == [sp["mask"], sp["pad"], sp["delete"], sp["end"]]
    ins, outs = io(os.path.join(out, "denoiser.onnx"))
    assert ins == {"input_ids": (INT64, ["batch", "seq"]), "attention_mask": (INT64, ["batch", "seq"])}
    assert outs == {"topk_ids": (INT64, ["batch", "seq", k]), "topk_logits": (FLOAT, ["batch", "seq", k]),
                    "logsumexp_rest": (FLOAT, ["batch", "seq"]), "special_logits": (FLOAT, ["batch", "seq", 4]),
                    "hidden_states": (FLOAT, ["batch", "seq", model.config.hidden_size])}
    diffs = E.verify_package(model, out)
    assert max(diffs.values()) < 1e-4, diffs


def test_fp16_topk(model, tok_path, tmp_path):
    """Reductions of the top-K form run in float32 even in a float16 package; hidden_states stay float16."""
    out = str(tmp_path / "fp16topk")
    E.export_package(model, tok_path, out, "fp16-topk", fp16=True, topk=4, edit_head=False)
    _, outs = io(os.path.join(out, "denoiser.onnx"))
    assert outs["topk_ids"][0] == INT64 and outs["hidden_states"][0] == FLOAT16
    assert outs["topk_logits"][0] == outs["logsumexp_rest"][0] == outs["special_logits"][0] == FLOAT
    assert max(E.verify_package(model, out).values()) < 5e-2


def test_external_data(model, tok_path, tmp_path):
    out = str(tmp_path / "ext")
    m = E.export_package(model, tok_path, out, "ext-test", external_data=True)
    assert m["graphs"]["denoiser"]["external_data"] == "denoiser.onnx.data"
    assert sorted(os.listdir(out)) == ["denoiser.onnx", "denoiser.onnx.data", "edit_head.onnx", "edit_head.onnx.data",
                                       "medlm.json", "tokenizer.json"]
    assert os.path.getsize(os.path.join(out, "denoiser.onnx")) < 200_000
    onnx.checker.check_model(os.path.join(out, "denoiser.onnx"), full_check=True)
    assert max(E.verify_package(model, out).values()) < 1e-4


def test_consolidate_torch_style_external_data(package, tmp_path):
    """Torch writes a >2 GB export as one file per tensor; export_graph streams them into one data file."""
    out, _ = package
    proto = onnx.load(os.path.join(out, "denoiser.onnx"))
    ids = np.array([[1, 2, 3, 4]], dtype=np.int64)
    feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
    a = onnx_numpy.run(proto, feeds)["logits"]
    split = tmp_path / "split"
    split.mkdir()
    onnx.save_model(proto, str(split / "model.onnx"), save_as_external_data=True, all_tensors_to_one_file=False,
                    size_threshold=0)
    loose = onnx.load(str(split / "model.onnx"), load_external_data=False)
    dst = tmp_path / "one"
    dst.mkdir()
    E._consolidate_external(loose, str(split), str(dst / "denoiser.onnx.data"))
    onnx.save_model(loose, str(dst / "denoiser.onnx"))
    assert sorted(os.listdir(dst)) == ["denoiser.onnx", "denoiser.onnx.data"]
    onnx.checker.check_model(str(dst / "denoiser.onnx"))
    assert len(os.listdir(split)) > 10  # one file per tensor, as torch writes them
    b = onnx_numpy.run(str(dst / "denoiser.onnx"), feeds)["logits"]
    assert np.array_equal(a, b)


def test_golden_file(package, model, tmp_path):
    out, _ = package
    path = str(tmp_path / "golden.json")
    E.write_golden(model, out, path)
    assert os.path.getsize(path) < 1_200_000
    with open(path, encoding="utf-8") as f:
        g = json.load(f)
    assert g["format"] == "medlm-golden-logits/1" and g["package"] == "medlm-test"
    assert g["denoiser_sha256"] == E.sha256_file(os.path.join(out, "denoiser.onnx"))
    assert g["edit_head_sha256"] == E.sha256_file(os.path.join(out, "edit_head.onnx"))
    n0, n1 = g["lengths"]
    assert n0 != n1 and len(g["input_ids"]) == 2
    tok = Tokenizer.load(os.path.join(out, "tokenizer.json"))
    with open(os.path.join(out, "medlm.json"), encoding="utf-8") as f:
        sp = json.load(f)["special_tokens"]
    for b, n in enumerate(g["lengths"]):
        row, att = g["input_ids"][b], g["attention_mask"][b]
        assert att == [1] * n + [0] * (len(row) - n)
        assert all(t == sp["pad"] for t in row[n:])
        assert row[n - 1] == sp["mask"]
        text = tok.decode([t for t in row[:n] if t != sp["mask"]])
        assert text == bundle.chat_prompt(E.GOLDEN_PROMPTS[b])
        assert len(g["logits"][b]) == n and len(g["logits"][b][0]) == model.config.vocab_size
        assert len(g["hidden_states"][b][0]) == model.config.hidden_size
        assert len(g["next_token_logits"][b]) == n
    # the stored numbers are PyTorch's (7 significant digits)
    ids, att = torch.tensor(g["input_ids"]), torch.tensor(g["attention_mask"])
    with torch.no_grad():
        logits, nxt, _ = model(ids, att)
    for b, n in enumerate(g["lengths"]):
        assert np.abs(np.array(g["logits"][b]) - logits[b, :n].numpy()).max() < 1e-5
        assert np.abs(np.array(g["next_token_logits"][b]) - nxt[b, :n].numpy()).max() < 1e-5


def test_cli_from_checkpoint(model, tok_path, tmp_path, capsys):
    ck = str(tmp_path / "model.pt")
    bundle.save_checkpoint(ck, model, {"step": 1})
    out = str(tmp_path / "cli-pkg")
    golden = str(tmp_path / "golden" / "g.json")
    E.main(["--checkpoint", ck, "--tokenizer", tok_path, "--out", out, "--verify", "--golden", golden])
    printed = capsys.readouterr().out
    assert "max abs diff" in printed
    with open(os.path.join(out, "medlm.json"), encoding="utf-8") as f:
        m = json.load(f)
    assert m["name"] == "cli-pkg" and m["architecture"] == "medlm"
    with open(golden, encoding="utf-8") as f:
        assert json.load(f)["package"] == "cli-pkg"


def test_package_alone_rebuilds_the_pytorch_model(tmp_path):
    """The reference decoders (bench, eval) load the package's own weights: same logits as the source model."""
    import torch

    import export_onnx
    from model import MeDlmConfig, MeDlmModel

    torch.manual_seed(3)
    cfg = MeDlmConfig(vocab_size=593, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=2, head_dim=16)
    model = MeDlmModel(cfg).eval()
    with torch.no_grad():  # trained norms differ; all-ones norms would be deduplicated by the exporter
        for n, p in model.named_parameters():
            if p.dim() == 1:
                p.uniform_(0.5, 1.5)
    export_onnx.export_package(model, BUNDLED_TOKENIZER, str(tmp_path / "pkg"), "t")
    rebuilt = export_onnx.model_from_package(str(tmp_path / "pkg"))
    ids = torch.randint(0, 580, (2, 9))
    with torch.no_grad():
        a, b = model(ids), rebuilt(ids)
    for x, y in zip(a, b):
        assert torch.equal(x, y)


def test_generation_auto_follows_the_runtimes_rules(package):
    """generation.auto (written by medlm eval --write-auto) is checked as ModelManifest checks it; the bundled
    package's own setting passes."""
    out, manifest = package
    with open(os.path.join(BUNDLED, "medlm.json"), encoding="utf-8") as f:
        bundled = json.load(f)
    assert bundled["generation"].get("auto"), "the bundled package carries its measured auto setting"
    E.validate_manifest(bundled)
    for auto, why in (({"budget": 0.5}, "algorithm"), ({"algorithm": "entropy"}, "algorithm"),
                      ({"algorithm": "medlm", "budget": 1.5}, "budget"), ({"algorithm": "medlm", "steps": 4}, "steps"),
                      ({"algorithm": "medlm", "mask_steps": 49}, "mask_steps"),
                      ({"algorithm": "medlm", "block_length": 5}, "block_length"),
                      ({"algorithm": "random", "switch_threshold": 0.9}, "switch_threshold"), ("medlm", "object"),
                      ({"algorithm": "low-confidence"}, "algorithm")):
        bad = json.loads(json.dumps(manifest))
        bad["generation"]["auto"] = auto
        with pytest.raises(ValueError, match=why):
            E.validate_manifest(bad)
    good = json.loads(json.dumps(manifest))
    good["generation"]["auto"] = {"algorithm": "LowConfidence", "mask_steps": 12, "edit_rounds": 4, "edit_threshold": 0.9}
    E.validate_manifest(good)


def test_reexport_keeps_the_measured_auto_setting(tmp_path):
    """export_onnx --package (e.g. into the top-K form) carries the source's generation.auto over."""
    out = str(tmp_path / "topk")
    E.main(["--package", BUNDLED, "--out", out, "--topk", "16"])
    with open(os.path.join(BUNDLED, "medlm.json"), encoding="utf-8") as f:
        source = json.load(f)["generation"]["auto"]
    with open(os.path.join(out, "medlm.json"), encoding="utf-8") as f:
        assert json.load(f)["generation"]["auto"] == source
