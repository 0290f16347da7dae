"""A quiet kernel: importing facewidget, detecting faces and exiting print nothing at all."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = """
import facewidget as fw
faces = fw.detect_faces(fw.data.sample("obama"))
assert len(faces) == 1, len(faces)
fw.detect_faces(fw.data.sample("biden"))
"""


def test_import_detect_and_exit_print_nothing():
    env = {k: v for k, v in os.environ.items()
           if k not in ("GLOG_minloglevel", "TF_CPP_MIN_LOG_LEVEL", "FACEWIDGET_NATIVE_LOGS")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, env=env, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    assert proc.stdout == b""
    assert proc.stderr == b"", proc.stderr.decode(errors="replace")


def test_native_logs_can_be_turned_back_on():
    """FACEWIDGET_NATIVE_LOGS=1 leaves MediaPipe's own lines on (so the silencing above is real)."""
    env = dict(os.environ, FACEWIDGET_NATIVE_LOGS="1")
    env.pop("GLOG_minloglevel", None)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, env=env, timeout=300, cwd=ROOT)
    assert proc.returncode == 0
    assert proc.stderr != b""
