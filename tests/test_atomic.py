"""Atomic writes: a failure mid-write leaves the old file intact and no temp file behind."""

from __future__ import annotations

import pytest

from mnist_edge.common import atomic


def test_write_replaces_content(tmp_path):
    target = tmp_path / "a.json"
    atomic.write_json(target, {"x": 1})
    atomic.write_json(target, {"x": 2})
    assert target.read_text().strip().endswith("}") and '"x": 2' in target.read_text()


def test_failed_write_keeps_previous_file(tmp_path):
    target = tmp_path / "model.h5"
    target.write_bytes(b"good model")

    def crash(tmp):
        tmp.write_bytes(b"half a mod")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic.write_with(target, crash)
    assert target.read_bytes() == b"good model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.h5"]


def test_temp_file_keeps_suffix(tmp_path):
    seen = []

    def writer(tmp):
        seen.append(tmp.suffix)
        tmp.write_bytes(b"")

    atomic.write_with(tmp_path / "m.h5", writer)
    assert seen == [".h5"]


def test_new_files_get_normal_permissions(tmp_path):
    target = atomic.write_text(tmp_path / "report.md", "hi")
    assert target.stat().st_mode & 0o644 == 0o644  # readable by others, unlike mkstemp's 0600
