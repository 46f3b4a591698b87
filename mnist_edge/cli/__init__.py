"""The ``mnist-edge`` command line: thin Typer commands over the library.

Each command parses its options and calls one library function that the tests call too. Heavy
imports (TensorFlow, OpenCV) happen inside the commands, so ``mnist-edge --help`` and the
device-side commands start fast and never import TensorFlow. One module per group of commands:
:mod:`~mnist_edge.cli.training` (train, convert, evaluate), :mod:`~mnist_edge.cli.reading`
(predict, webcam, serve), :mod:`~mnist_edge.cli.meter` (regions, and the meter and publishing
options webcam, bundle and deploy take), :mod:`~mnist_edge.cli.shipping` (bundle, deploy,
selftest); what they share is in :mod:`~mnist_edge.cli.common`.

Errors a user can fix are raised as :class:`~mnist_edge.common.errors.UserError` and shown as a
single ``error: ...`` line on stderr with exit status 2 (see :func:`main`).
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from mnist_edge.cli import (  # noqa: F401  (register the commands)
    collecting,
    meter,
    reading,
    shipping,
    training,
)
from mnist_edge.cli.common import EXIT_USER_ERROR, app
from mnist_edge.common.errors import UserError

__all__ = ["app", "main"]


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    version: Annotated[
        bool, typer.Option("--version", help="Print the mnist-edge version and exit.")
    ] = False,
) -> None:
    """Handwritten-digit recognition from training to a Raspberry Pi camera."""
    if version:
        from mnist_edge import __version__

        typer.echo(f"mnist-edge {__version__}")
        raise typer.Exit()
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())
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
