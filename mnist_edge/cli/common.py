"""What every command group shares: the Typer ``app``, error handling, the common options.

``--model``, ``--runtime``, ``--threads`` and ``--data`` are declared here once; their choices
and defaults come from the modules that own them.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from mnist_edge.common.errors import UserError
from mnist_edge.common.paths import portable_args
from mnist_edge.reading.runtime import RUNTIMES

COMMAND_ORDER = ("train", "convert", "evaluate", "predict", "webcam", "regions", "serve", "collect",
                 "label", "bundle", "deploy", "selftest")


class _OrderedGroup(typer.core.TyperGroup):
    """List commands in the order of the edge path in --help, not in definition order."""

    def list_commands(self, ctx) -> list[str]:  # type: ignore[no-untyped-def]
        names = super().list_commands(ctx)
        rank = {name: i for i, name in enumerate(COMMAND_ORDER)}
        return sorted(names, key=lambda n: rank.get(n, len(rank)))


app = typer.Typer(
    name="mnist-edge",
    cls=_OrderedGroup,
    help="Handwritten-digit recognition from training to a Raspberry Pi camera.\n\n"
    "Typical path: train -> convert -> predict / webcam -> bundle -> deploy.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help text: "[default: ...]" in option help must print as written, not as markup.
    rich_markup_mode=None,
)

F = TypeVar("F", bound=Callable[..., Any])
EXIT_USER_ERROR = 2


def fail(message: str) -> typer.Exit:
    """Print one ``error:`` line on stderr and return the Exit to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(EXIT_USER_ERROR)


def import_quietly(module: str) -> Any:
    """Import a TensorFlow-backed module without TensorFlow's C++ start-up banner on stderr
    (and, unlike the library's default, without its C++ error lines: the command says what
    went wrong in one line of its own)."""
    from mnist_edge.common import quiet

    return quiet.import_quietly(module, tf_log_level="3")


def user_errors(fn: F) -> F:
    """Turn a :class:`UserError` raised by library code into one stderr line and exit 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except UserError as exc:
            raise fail(str(exc)) from None

    return wrapper  # type: ignore[return-value]


DataOption = Annotated[
    Path | None,
    typer.Option(
        "--data",
        help="MNIST as an .npz (x_train, y_train, x_test, y_test) or a folder of the 4 idx files "
        "(.gz or raw); or your own crops, one folder per class (DIR/<class>/*.png). Default: "
        "$MNIST_EDGE_DATA, then Keras' cache/download.",
        show_default=False,
    ),
]

AuthOption = Annotated[str | None, typer.Option(
    "--auth", metavar="USER:PASSWORD", help="Ask browsers and scripts for this login (HTTP "
    "basic; /healthz stays open). Use on any network you do not fully trust.",
    show_default=False)]
AuthFileOption = Annotated[Path | None, typer.Option(
    "--auth-file", metavar="FILE", help="Like --auth, read from the first line of FILE (keeps "
    "the password out of the process list).", show_default=False)]
SeedOption = Annotated[int, typer.Option(
    min=0, max=2**32 - 1, help="Random seed: the same seed gives the same result.")]


def model_option(help: str) -> Any:  # noqa: A002 (the option's help text)
    """The ``--model/-m`` option (a .tflite path, default None), with the command's own help."""
    return Annotated[Path | None, typer.Option("--model", "-m", help=help, show_default=False)]


ModelOption = model_option("The .tflite model [default: the shipped int8 model, or "
                           "$MNIST_EDGE_MODEL].")
# --runtime's choices, in the one spelling the reader uses (reading.runtime.RUNTIMES); commands
# pass ``runtime.value`` on. (deploy's --runtime names pip packages instead: see cli/shipping.)
RuntimeChoice = Enum("RuntimeChoice", {name: name for name in ("auto", *RUNTIMES)}, type=str)
RuntimeOption = Annotated[RuntimeChoice, typer.Option(
    "--runtime", help=f"Interpreter for .tflite: auto (LiteRT, then tflite_runtime, then "
                      f"tensorflow), {', '.join(RUNTIMES[:-1])} or {RUNTIMES[-1]}.")]
ThreadsOption = Annotated[int | None, typer.Option(
    min=1, help="Interpreter threads [default: the runtime's choice].", show_default=False)]


def command_line() -> str:
    """The command as typed, for the sidecars and metrics (reproducibility); an absolute path
    is written relative to the checkout, or as its file name (never a folder of the machine it
    ran on)."""
    return " ".join(["mnist-edge", *portable_args(sys.argv[1:])])
