"""The package's shape: the light modules never load TensorFlow, and nothing runs on import."""

from __future__ import annotations

import subprocess
import sys

from .conftest import ROOT

LIGHT = (
    "nst",
    "nst.records",
    "nst.runfolder",
    "nst.outputs",
    "nst.plots",
    "nst.sweep",
    "nst.pipeline",
    "nst.still",
    "nst.watchers",
    "nst.exits",
    "nst.process",
    "nst.progress",
    "nst.scales",
    "nst.preflight",
    "nst.styles",
    "nst.masks",
    "nst.evolution",
    "nst.viewer",
    "nst.checkpoint",
    "nst.lbfgs",
    "nst.batch",
    "nst.batch_run",
    "nst.batch_local",
    "nst.batch_sheet",
    "nst.batch_grid",
    "nst.batch_ray",
    "nst.flow",
    "nst.video_io",
    "nst.video",
)


def test_light_modules_do_not_import_tensorflow():
    code = (
        f"import sys; import {', '.join(LIGHT)}; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
