"""Every script in examples/ runs offline and exits 0 (small settings; the scripts' docstrings give the full ones)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = {
    "label_a_model.py": (["--units", "4"], ["blocks.6:0", "labelled 4 units"]),
    "audit_for_faces.py": (["--units", "8"], ["checked 8 units of blocks.6 for face,person", "would exit"]),
    "explain_a_prediction.py": (["--top", "3"], ["EfficientNet-Lite0 says", "the units of blocks.6 that drove it"]),
    "edit_by_labels.py": (["--units", "12", "--probe", "16", "--eval", "16"], ["no ablation", "ablate the"]),
    "compare_two_models.py": (["--units", "6"], ["efficientnet_lite0 blocks.6: 6 units", "only in mobilenet_v2"]),
}


def test_every_example_is_tested():
    assert sorted(p.name for p in (ROOT / "examples").glob("*.py")) == sorted(EXAMPLES)


@pytest.mark.parametrize("name", [pytest.param(n, marks=[] if n == "label_a_model.py" else [pytest.mark.slow])
                                  for n in sorted(EXAMPLES)])
def test_example_runs(name, tmp_path):
    args, expected = EXAMPLES[name]
    if name == "label_a_model.py":
        args = args + ["--out", str(tmp_path)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
    done = subprocess.run([sys.executable, str(ROOT / "examples" / name), *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    for text in expected:
        assert text in done.stdout, done.stdout
    if name == "label_a_model.py":
        assert {p.name for p in tmp_path.iterdir()} >= {"report.html", "report.json", "labels.csv"}
