"""The ``mnist-edge`` command line: thin Typer commands over the library.

Each command parses its options and calls one library function that the tests call too. Heavy
imports (TensorFlow, OpenCV) happen inside the commands, so ``mnist-edge --help`` and the
device-side commands start fast and never import TensorFlow.

Errors a user can fix are raised as :class:`~mnist_edge.errors.UserError` and shown as a single
``error: ...`` line on stderr with exit status 2 (see :func:`main`).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from mnist_edge.errors import UserError

app = typer.Typer(
    name="mnist-edge",
    help="Handwritten-digit recognition from training to a Raspberry Pi camera.\n\n"
    "Typical path: train -> convert -> predict / webcam -> bundle -> deploy.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

F = TypeVar("F", bound=Callable[..., Any])
EXIT_USER_ERROR = 2


def fail(message: str) -> typer.Exit:
    """Print one ``error:`` line on stderr and return the Exit to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(EXIT_USER_ERROR)


def user_errors(fn: F) -> F:
    """Turn a :class:`UserError` raised by library code into one stderr line and exit 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except UserError as exc:
            raise fail(str(exc)) from None

    return wrapper  # type: ignore[return-value]


class Arch(str, Enum):
    """Architectures ``train`` knows (kept here so parsing options needs no TensorFlow)."""

    edge = "edge"
    seed = "seed"


DataOption = Annotated[
    Path | None,
    typer.Option(
        "--data",
        help="MNIST as an .npz (x_train, y_train, x_test, y_test) or a folder of the 4 idx files "
        "(.gz or raw). Default: $MNIST_EDGE_DATA, then Keras' cache/download.",
        show_default=False,
    ),
]


@app.command()
@user_errors
def train(
    arch: Annotated[
        Arch, typer.Option(help="'edge': the default model (>=99.5%); 'seed': the classic Keras "
                                "MNIST script, exactly.")
    ] = Arch.edge,
    epochs: Annotated[
        int | None, typer.Option(min=1, help="Epochs [default: 10 for both recipes].",
                                 show_default=False)
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(min=1, help="Batch size [default: seed 200, edge 128].",
                                 show_default=False)
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same model.")] = 0,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Where to save the Keras model (.h5); the metrics "
                                                "JSON goes next to it.")
    ] = Path("mnist_model.h5"),
    data: DataOption = None,
    train_samples: Annotated[
        int | None, typer.Option(min=1, help="Train on the first N training images only "
                                             "(quick runs).", show_default=False)
    ] = None,
    test_samples: Annotated[
        int | None, typer.Option(min=1, help="Evaluate on the first N test images only.",
                                 show_default=False)
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Train a digit classifier on MNIST and save it as .h5 with a metrics JSON.

    Prints the test accuracy and error like the classic Keras MNIST script, then a summary.

    Examples:

      mnist-edge train --data ../shared/data/mnist.npz

      mnist-edge train --arch seed --out models/seed.h5
    """
    if out.suffix not in (".h5", ".keras"):
        raise fail(f"--out must end in .h5 (or .keras), got {out}")

    from mnist_edge.data import load_mnist

    dataset = load_mnist(data).subset(train_samples, test_samples)
    _run_training(dataset, arch.value, out, epochs, batch_size, seed, quiet)


def _run_training(dataset, arch: str, out, epochs, batch_size, seed, quiet) -> None:
    """Train with a rich progress bar and print the seed script's two lines plus a summary."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TimeElapsedColumn, TimeRemainingColumn
    from rich.table import Table

    from mnist_edge import train as training

    recipe = training.RECIPES[arch]
    n_epochs = epochs or recipe.epochs
    steps = -(-len(dataset.x_train) // (batch_size or recipe.batch_size))
    console = Console(stderr=True)
    with Progress(
        "[progress.description]{task.description}", BarColumn(), TimeElapsedColumn(),
        TimeRemainingColumn(), console=console, disable=quiet,
    ) as progress:
        callback = None if quiet else training.RichProgress(progress, n_epochs, steps)
        result = training.train(
            dataset, arch=arch, out=out, epochs=epochs, batch_size=batch_size, seed=seed,
            progress=callback, command=training.command_line(),
        )
    m = result.metrics
    print(f"Test Accuracy: {m['test_accuracy']:.4f}")
    print(f"Test Error: {m['test_error_percent']:.2f}")
    table = Table(title="training summary", show_header=False)
    for key, value in [
        ("architecture", arch), ("trainable parameters", f"{m['trainable_params']:,}"),
        ("epochs / batch", f"{m['epochs']} / {m['batch_size']}"),
        ("training time", f"{m['train_seconds']:.1f} s"),
        ("train / test images", f"{m['train_examples']:,} / {m['test_examples']:,}"),
        ("model", str(result.model_path)), ("metrics", str(result.metrics_path)),
    ]:
        table.add_row(key, value)
    Console(stderr=True).print(table)


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", help="Print the mnist-edge version and exit.")
    ] = False,
) -> None:
    """Handwritten-digit recognition from training to a Raspberry Pi camera."""
    if version:
        from mnist_edge import __version__

        typer.echo(f"mnist-edge {__version__}")
        raise typer.Exit()


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: one ``error:`` line for bad input, never a traceback."""
    try:
        code = app(args=argv, standalone_mode=False)
    except UserError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USER_ERROR)
    except (KeyboardInterrupt, typer.Abort):
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except typer.TyperException as exc:  # click's usage and parameter errors
        if type(exc).__name__ == "NoArgsIsHelpError":
            exc.show()  # type: ignore[attr-defined]
            sys.exit(0)
        message = exc.format_message()  # type: ignore[attr-defined]
        ctx = getattr(exc, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        typer.echo(f"error: {message}{hint}", err=True)
        sys.exit(getattr(exc, "exit_code", EXIT_USER_ERROR))
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
