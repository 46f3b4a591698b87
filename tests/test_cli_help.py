"""Every command's --help: its examples print whole, so they paste (issue 13.11)."""

from __future__ import annotations

import inspect

import pytest
from typer.testing import CliRunner

from mnist_edge.cli import app

COMMANDS = {c.name or c.callback.__name__: c.callback for c in app.registered_commands}


def _examples(doc: str) -> list[str]:
    """The example lines of a command's docstring (``mnist-edge ...`` lines under Examples:)."""
    shown = doc.split("\f")[0]
    after = shown.split("Examples:", 1)[1] if "Examples:" in shown else ""
    return [line.strip() for line in after.splitlines() if "mnist-edge" in line]


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_examples_print_whole_on_an_80_column_terminal(name):
    examples = _examples(inspect.getdoc(COMMANDS[name]) or "")
    assert examples, f"{name} --help has no examples"
    result = CliRunner().invoke(app, [name, "--help"], terminal_width=80,
                                env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    printed = {line.strip() for line in result.output.splitlines()}
    assert [e for e in examples if e not in printed] == []
