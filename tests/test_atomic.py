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


# --- issue 13.4: outputs that cannot be written ---------------------------------------------

def test_check_writable_refuses_before_any_work(tmp_path):
    from mnist_edge.common.errors import UserError

    blocker = tmp_path / "file"
    blocker.write_text("x")
    cases = [(blocker / "sub" / "out.h5", "is a file, not a folder"), (tmp_path, "is a folder")]
    for target, words in cases:
        with pytest.raises(UserError, match=words):
            atomic.check_writable(target)
    with pytest.raises(UserError, match="MB free"):  # a full disk (Keras would segfault)
        atomic.check_writable(tmp_path / "m.h5", min_free=1 << 62)
    atomic.check_writable(tmp_path / "new" / "deeper" / "m.h5")  # missing folders can be made
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]  # ...and are not left behind


def test_oserror_while_writing_is_a_user_error_and_leaves_no_temp(tmp_path):
    import errno

    from mnist_edge.common.errors import UserError

    def full(tmp):
        tmp.write_bytes(b"part")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(UserError, match="cannot write .*out.bin: No space left"):
        atomic.write_with(tmp_path / "out.bin", full)
    with pytest.raises(UserError, match="cannot write"):
        atomic.write_bytes(tmp_path, b"x")  # the target is a folder
    assert list(tmp_path.iterdir()) == []


def test_recorded_commands_carry_no_folder_of_this_machine(tmp_path):
    from mnist_edge.common.paths import PACKAGE_DIR, portable, portable_args

    inside = PACKAGE_DIR.parent / "models" / "edge.h5"
    assert portable(inside) == "models/edge.h5" and portable(tmp_path / "m.h5") == "m.h5"
    args = ["--out", str(tmp_path / "m.h5"), "--extra", f"my model={tmp_path / 'x.h5'}",
            "--data", "../shared/data/mnist.npz", "--epochs", "3"]
    assert portable_args(args) == ["--out", "m.h5", "--extra", "my model=x.h5",
                                   "--data", "../shared/data/mnist.npz", "--epochs", "3"]
