"""The bundled model (onnx/medlm-tiny) re-exported in the reduced output forms, for the C# runtime's
token-identity tests (tests/MeDlm.Tests/Generation/ReducedOutputsGoldenTests.cs):

  /usr/bin/python3 export/make_reduced_fixture.py     # writes tests/fixtures/generated/ (ignored by git)

- medlm-tiny-argmax: full denoiser logits, edit head in the argmax form (next_token_ids, next_token_prob);
- medlm-tiny-reduced: denoiser in the top-K form and edit head in the argmax form.

Both come from the bundled package's own weights (export_onnx.model_from_package) written as a float32
Hugging Face folder and exported by stream_export.py, the exporter real checkpoints go through. The
packages are ~8.5 MB each (the bundled weights), too large to commit, so CI (.ci/run) writes them before
`dotnet test`; the tests fail under CI when they are missing and are skipped elsewhere.
"""
import argparse
import os
import shutil
import sys
import tempfile

import export_onnx
import safetensors_io as st
import stream_export

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUNDLED = os.path.join(ROOT, "onnx", "medlm-tiny")
OUT = os.path.join(ROOT, "tests", "fixtures", "generated")
TOPK = 16
FORMS = {"medlm-tiny-argmax": None, "medlm-tiny-reduced": TOPK}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=OUT, help="folder for the packages (default tests/fixtures/generated)")
    a = p.parse_args(argv)
    model = export_onnx.model_from_package(BUNDLED)
    with tempfile.TemporaryDirectory() as hf:
        st.save_hf_checkpoint(model, hf)
        shutil.copyfile(os.path.join(BUNDLED, "tokenizer.json"), os.path.join(hf, "tokenizer.json"))
        for name, topk in FORMS.items():
            out = os.path.join(a.out, name)
            if os.path.isdir(out):
                shutil.rmtree(out)
            stream_export.export_streaming(hf, out, name=name, topk=topk, edit_outputs="argmax",
                                           gen_length=48, max_seq_len=model.config.max_position_embeddings,
                                           progress_stream=None)
            print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
