"""``scripts/bench_model.py`` writes its table anew and keeps the notes written under it."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture()
def bench_model(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "scripts"))
    import bench_model

    return bench_model


def test_the_notes_under_the_marker_are_kept(tmp_path, bench_model):
    """Experiments tried and not shipped are written by hand under the measured table; a new
    run of the benchmark rewrote the whole file and they were lost (saved and put back by
    hand until now)."""
    md = tmp_path / "model.md"
    notes = bench_model.KEEP + "\n\n## Tried: a wider model\n\n99.41%, not shipped.\n"
    md.write_text("# old table\n\n| a | b |\n\n" + notes)
    assert bench_model.hand_notes(md) == "\n" + notes
    md.write_text("# a table and no notes\n")
    assert bench_model.hand_notes(md) == ""
    assert bench_model.hand_notes(tmp_path / "missing.md") == ""


def test_the_shipped_model_benchmark_keeps_its_experiments(bench_model):
    assert "## Tried for MNIST 99.6%" in bench_model.hand_notes(REPO / "benchmarks" / "model.md")
