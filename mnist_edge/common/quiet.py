"""Keep native libraries' start-up chatter off the user's terminal.

TensorFlow and the TFLite interpreters print notices ("Created TensorFlow Lite XNNPACK delegate",
CUDA probes) from C++ straight to file descriptor 2, where Python's ``sys.stderr`` redirection
cannot reach. Users need our one-line messages, not those.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Point fd 2 at /dev/null for the block; Python exceptions still propagate normally.

    Only for short start-up steps (imports, building an interpreter): anything the process
    writes to stderr meanwhile, from any thread, is dropped.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable fd 2 (embedded, closed): nothing to silence
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
