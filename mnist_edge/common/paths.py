"""Where the shipped models live, in a source checkout and in an installed wheel.

The repo keeps trained models in top-level ``models/``; the wheel carries the same files as
``mnist_edge/_models/`` (see ``pyproject.toml``). ``$MNIST_EDGE_MODEL`` overrides the default.
"""

from __future__ import annotations

import os
from pathlib import Path

from mnist_edge.common.errors import UserError

PACKAGE_DIR = Path(__file__).resolve().parent.parent
REPO_MODELS_DIR = PACKAGE_DIR.parent / "models"
WHEEL_MODELS_DIR = PACKAGE_DIR / "_models"
DEFAULT_MODEL_NAME = "edge_int8.tflite"
MODEL_ENV_VAR = "MNIST_EDGE_MODEL"


def portable(path: str | os.PathLike[str]) -> str:
    """``path`` as results and sidecars write it: relative to the checkout, else its file
    name (never a folder of the machine it was measured on)."""
    p = Path(path).resolve()
    return str(p.relative_to(PACKAGE_DIR.parent)) if p.is_relative_to(PACKAGE_DIR.parent) \
        else p.name


def portable_args(args: list[str]) -> list[str]:
    """Command-line arguments as results and sidecars record them: an absolute path (alone or
    after ``NAME=``) made :func:`portable`, everything else as typed."""
    out = []
    for a in args:
        name, eq, value = a.rpartition("=")
        if eq and os.path.isabs(value):
            out.append(f"{name}={portable(value)}")
        else:
            out.append(portable(a) if os.path.isabs(a) else a)
    return out


def models_dir() -> Path:
    """The shipped models folder: the wheel's copy if installed, else the checkout's ``models/``."""
    return WHEEL_MODELS_DIR if WHEEL_MODELS_DIR.is_dir() else REPO_MODELS_DIR


def shipped_model(recipe: str) -> str:
    """The file name a training recipe's model ships under in ``models/`` (``edge-base`` ->
    ``edge_base.h5``): where the default recipe finds its start and benchmarks write theirs."""
    return recipe.replace("-", "_") + ".h5"


def default_model() -> Path:
    """The model every device command uses unless told otherwise."""
    if os.environ.get(MODEL_ENV_VAR):
        return Path(os.environ[MODEL_ENV_VAR])
    path = models_dir() / DEFAULT_MODEL_NAME
    if not path.is_file():
        raise UserError(f"no default model at {path}: pass --model FILE.tflite "
                        f"or set {MODEL_ENV_VAR}")
    return path
