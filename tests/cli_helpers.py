"""Running the real ``mnist-edge`` command in a subprocess, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Python source that prints the TensorFlow/Keras modules imported so far (one check, shared).
HEAVY_MODULES = "sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras'))"


def run_cli(*args: str, env: dict[str, str] | None = None, env_extra: dict | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m mnist_edge ARGS`` from the checkout; output captured as text.

    ``env`` replaces the environment; ``env_extra`` adds to this process's."""
    if env_extra:
        env = {**(env or os.environ), **env_extra}
    return subprocess.run([sys.executable, "-m", "mnist_edge", *args], capture_output=True,
                          text=True, env=env, timeout=timeout, cwd=REPO)
