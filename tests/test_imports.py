"""Every module outside ``mnist_edge.training`` imports with TensorFlow and Keras unavailable.

The device install (``pip install .``, no extras) has no TensorFlow: this is what makes that
work. ``tensorflow`` and ``keras`` are set to None in ``sys.modules`` in a fresh interpreter, so
any import of them (direct or through another module) raises ImportError.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys

from cli_helpers import REPO

import mnist_edge

EXCLUDED = ("mnist_edge.training", "mnist_edge.testing")


def device_modules() -> list[str]:
    """Every module of the package except the training side and the test-only package."""
    names = [m.name for m in pkgutil.walk_packages(mnist_edge.__path__, "mnist_edge.")]
    return sorted(n for n in names if not n.startswith(EXCLUDED) and n != "mnist_edge.__main__")


def test_every_device_module_imports_without_tensorflow():
    modules = device_modules()
    assert "mnist_edge.reading.pipeline" in modules and "mnist_edge.cli.training" in modules
    assert {"mnist_edge.cli.meter", "mnist_edge.reading.meter", "mnist_edge.reading.align",
            "mnist_edge.publish.mqtt", "mnist_edge.publish.webhook",
            "mnist_edge.shipping.ansible"} <= set(modules)
    code = (
        "import importlib, sys\n"
        "sys.modules['tensorflow'] = None\n"
        "sys.modules['keras'] = None\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print('imported', len(sys.argv) and len([m for m in sys.modules "
        "if m.startswith('mnist_edge')]))\n"
    )
    assert _run(code).startswith("imported")


def test_the_classifier_runs_with_numpy_and_an_interpreter_alone():
    """What ``scripts/check_runtimes.py`` relies on: ``Classifier`` loads a model and its sidecar
    and predicts with OpenCV (and TensorFlow) unavailable, as in a bare virtual environment with
    only numpy and an interpreter (a sidecar's reader once pulled OpenCV in with the crop code)."""
    code = (
        "import sys\n"
        "sys.modules['cv2'] = None\n"
        "sys.modules['tensorflow'] = None\n"
        "sys.modules['keras'] = None\n"
        "import numpy as np\n"
        "from mnist_edge.reading.runtime import Classifier\n"
        "c = Classifier('models/edge_int8.tflite', runtime='litert')\n"
        "x = np.zeros((2, 28, 28), np.uint8)\n"
        "x[1, 4:24, 13:16] = 255\n"
        "p = c.predict(x)\n"
        "print(p.shape, int(p[1].argmax()), sys.modules['cv2'] is None)\n"
    )
    assert _run(code).split() == ["(2,", "10)", "1", "True"]


def _run(code: str) -> str:
    """``code`` run in a fresh interpreter at the repository's root: its standard output
    (the test fails with its standard error if it fails)."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr
    return done.stdout
