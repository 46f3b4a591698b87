"""The benchmark scripts' counts: zero or less is one clear error, not a traceback after minutes
of set-up (a median of no runs, a rate over no scenes)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("argv", [["bench_grids.py", "--scenes", "0"],
                                  ["bench_reader.py", "--scenes", "-2"],
                                  ["bench_deploy.py", "--runs", "0"]])
def test_a_count_under_one_is_one_error_line(argv):
    done = subprocess.run([sys.executable, str(REPO / "scripts" / argv[0]), *argv[1:]],
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith(f"{argv[0]}: error:")
    assert argv[1] in done.stderr.strip().splitlines()[-1]
