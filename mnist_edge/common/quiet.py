"""Keep native libraries' start-up chatter off the user's terminal: the one place that does it.

TensorFlow and the TFLite interpreters print notices ("Created TensorFlow Lite XNNPACK delegate",
CUDA probes) from C++ straight to file descriptor 2, where Python's ``sys.stderr`` redirection
cannot reach; the converter also prints to fd 1, and Keras and absl log from Python. Users need
our one-line messages, not those.

- :func:`quiet_tensorflow_logs`: TensorFlow's own C++ log level, set before it is imported;
- :func:`import_quietly`: import a module (TensorFlow, or one that imports it) with that level
  and fd 2 silenced;
- :func:`native_output_silenced`: fd 2 (and fd 1 if asked) pointed at /dev/null for a block;
- :func:`python_chatter_silenced` / :func:`absl_errors_only`: the Python-level loggers;
- :func:`stdout_to_devnull`: fd 1 at /dev/null for good, once its reader has gone away;
- :func:`quiet_opencv`: OpenCV's and FFmpeg's own log lines (the camera module calls it).
"""

from __future__ import annotations

import contextlib
import importlib
import io
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from typing import Any

TF_LOG_LEVEL_VAR = "TF_CPP_MIN_LOG_LEVEL"


def quiet_tensorflow_logs(level: str = "2") -> None:
    """Keep TensorFlow's C++ info lines ("2": and warnings; "3": and errors) off the terminal.

    Only takes effect before TensorFlow is imported; a level the user set wins.
    """
    os.environ.setdefault(TF_LOG_LEVEL_VAR, level)


def import_quietly(module: str, tf_log_level: str = "2") -> Any:
    """Import ``module`` (TensorFlow, or a module that imports it) without TensorFlow's C++
    start-up banner on stderr.

    TensorFlow probes for a GPU (``failed call to cuInit`` on a machine without one) the first
    time devices are listed, not at import; listing them here, silenced, spends that probe
    before the command's own work prints anything."""
    quiet_tensorflow_logs(tf_log_level)
    with native_output_silenced():
        imported = importlib.import_module(module)
        tf = sys.modules.get("tensorflow")
        if tf is not None and hasattr(tf, "config"):
            tf.config.list_physical_devices()
        return imported


@contextlib.contextmanager
def native_output_silenced(stdout: bool = False) -> Iterator[None]:
    """Point fd 2 (and fd 1 with ``stdout=True``) at /dev/null for the block; Python exceptions
    still propagate normally.

    Only for short steps (imports, building an interpreter, the converter): anything the
    process writes to those descriptors meanwhile, from any thread, is dropped.
    """
    fds = (1, 2) if stdout else (2,)
    streams = (sys.stdout, sys.stderr) if stdout else (sys.stderr,)
    try:
        for stream in streams:
            stream.flush()
        saved = [os.dup(fd) for fd in fds]
    except (OSError, ValueError):  # no usable fd (embedded, closed): nothing to silence
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    for fd in fds:
        os.dup2(devnull, fd)
    try:
        yield
    finally:
        for stream in streams:
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        for fd, old in zip(fds, saved, strict=True):
            os.dup2(old, fd)
        for fd in (*saved, devnull):
            os.close(fd)


@contextlib.contextmanager
def absl_errors_only() -> Iterator[None]:
    """absl (Keras' and TensorFlow's Python logger) at ERROR for the block, then as it was."""
    absl = logging.getLogger("absl")
    level = absl.level
    absl.setLevel(logging.ERROR)
    try:
        yield
    finally:
        absl.setLevel(level)


@contextlib.contextmanager
def python_chatter_silenced() -> Iterator[None]:
    """Hide Python-level chatter for the block: absl below ERROR, warnings, and ``print``s to
    ``sys.stdout`` (the converter's saved-model listings, Keras' legacy-format notices)."""
    with absl_errors_only(), warnings.catch_warnings(), \
            contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def stdout_to_devnull() -> None:
    """Point fd 1 at /dev/null for the rest of the process, so that the exit-time flush of
    output nobody reads any more (``... | head`` closed the pipe) stays quiet."""
    with contextlib.suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def quiet_opencv() -> None:
    """Silence OpenCV's C++ log lines ("[ WARN:0@0.04] global cap_v4l.cpp ...") and FFmpeg's
    (read when a file opens, so call this before opening one)."""
    import cv2

    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    with contextlib.suppress(AttributeError):  # a build without the logging module
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
