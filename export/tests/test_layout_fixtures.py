"""The committed layout fixtures (tests/fixtures/packages/layout-*, tests/golden/layouts) are what
make_layout_fixtures.py writes with the exporter as it is now: a change to stream_export.py, the layouts or the
tiny checkpoints that alters them fails here until the fixtures are rewritten (the C# LayoutLogitsTests run on
the committed files)."""
import filecmp
import os

import make_layout_fixtures as F


def test_committed_layout_fixtures_are_current(tmp_path):
    F.main(["--packages", str(tmp_path / "packages"), "--golden", str(tmp_path / "golden")])
    stale = []
    for name, (_, _, tolerance) in F.FIXTURES.items():
        got, committed = tmp_path / "packages" / name, os.path.join(F.PACKAGES, name)
        files = sorted(os.listdir(got))
        assert files == sorted(os.listdir(committed)), name
        _, mismatch, errors = filecmp.cmpfiles(got, committed, files, shallow=False)
        stale += [f"{name}/{f}" for f in mismatch + errors]
        if tolerance is not None:
            g = f"{name}.json"
            if not filecmp.cmp(tmp_path / "golden" / g, os.path.join(F.GOLDEN, g), shallow=False):
                stale.append(f"golden/layouts/{g}")
    assert not stale, f"stale fixtures {stale}: run `/usr/bin/python3 export/make_layout_fixtures.py`"
