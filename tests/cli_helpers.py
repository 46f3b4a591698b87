"""Running the real ``mnist-edge`` command in a subprocess, as a user would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_cli(*args: str, env: dict[str, str] | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess:
    """``python -m mnist_edge ARGS`` from the checkout; output captured as text."""
    return subprocess.run([sys.executable, "-m", "mnist_edge", *args], capture_output=True,
                          text=True, env=env, timeout=timeout, cwd=REPO)
