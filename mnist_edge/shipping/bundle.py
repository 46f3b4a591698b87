"""``mnist-edge bundle``: one ``.tar.gz`` with everything a Raspberry Pi needs, and nothing else.

Layout (under a top-level ``mnist-edge-bundle/`` folder, so a manual ``tar xzf`` stays tidy)::

    install.sh              run on the device: venv, dependencies, self-test, switch, service
    mnist-edge.service      systemd unit template (install.sh fills in the paths)
    bundle.env              small KEY=value facts install.sh sources (ids, file names)
    requirements.txt        device dependencies from the wheel (opencv *headless*, no LiteRT:
                            install.sh picks LiteRT or tflite-runtime per platform)
    wheels/mnist_edge-*.whl the package, built from this checkout (no TensorFlow dependency)
    model/<name>.tflite     the model to deploy (+ its metadata JSON when there is one)
    samples/                digit images + labels.json for the self-test
    manifest.json           what is inside, with sha256 and size of every file
    SHA256SUMS              the same hashes in ``sha256sum -c`` format, for install.sh

Why a wheel and not a copy of the source: pip installs it the same way on every device, and its
metadata says exactly which dependencies the device needs.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from mnist_edge import __version__
from mnist_edge.common import atomic
from mnist_edge.common.checksum import sha256_file
from mnist_edge.common.errors import UserError

BUNDLE_ROOT = "mnist-edge-bundle"
FORMAT = 1
DEFAULT_OUT = Path("dist") / "mnist-edge-bundle.tar.gz"
DEFAULT_SERVICE = "mnist-edge"
SAMPLES_PER_CLASS = 2
CONFIG_DIR = "config"  # a meter config and its reference image, inside the bundle
# Values that end up in bundle.env (sourced by sh) and in paths on the device.
SAFE_VALUE = re.compile(r"[A-Za-z0-9._+@,:/-]*")
SAFE_ARG = re.compile(r"[A-Za-z0-9._+@,:/=-]+")
# Packages that must never reach a device (the bundle refuses to carry them).
FORBIDDEN = ("tensorflow", "tf-nightly", "keras", "tf-keras")
Progress = Callable[[str], None]


@dataclass(frozen=True)
class RunnerOptions:
    """How the service runs ``mnist-edge webcam --headless`` on the device."""

    serve: str | None = None
    source: str | None = None
    jsonl: str | None = None
    auth_file: str | None = None  # a USER:PASSWORD file on the device, for --serve
    config: Path | None = None  # a meter config: shipped as config/<name>.toml
    mqtt: str | None = None
    post: str | None = None

    def args(self, secret: bool = True) -> list[str]:
        """The webcam options, in order (relative ``--jsonl`` paths are kept relative: the unit
        runs in the deploy folder, so the file survives releases). A meter config is read from
        the release, its last good values kept in the deploy folder. ``secret=False`` masks
        the MQTT password (for the manifest)."""
        out: list[str] = []
        if self.auth_file is not None and self.serve is None:
            raise UserError("--auth-file protects the --serve view: add --serve [HOST:]PORT")
        for flag, value in (("--source", self.source), ("--serve", self.serve),
                            ("--jsonl", self.jsonl), ("--auth-file", self.auth_file),
                            ("--mqtt", self.mqtt), ("--post", self.post)):
            if value is not None:
                if not value or "\n" in value or "\r" in value:
                    raise UserError(f"{flag} must be a non-empty single line, got {value!r}")
                if flag == "--mqtt" and not secret:
                    value = re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", value)
                out += [flag, value]
        if self.config is not None:
            out += ["--config", f"@PREFIX@/current/{CONFIG_DIR}/{self.config.name}",
                    "--state-dir", "@PREFIX@"]
        return out


@dataclass
class BundleInfo:
    """A written bundle: where it is, its hash, and its manifest."""

    path: Path
    sha256: str
    size: int
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def files(self) -> list[str]:
        return sorted(self.manifest.get("files", {}))


def systemd_quote(arg: str) -> str:
    """Quote one ExecStart argument for systemd (which has its own rules: %% and $$)."""
    escaped = arg.replace("%", "%%").replace("$", "$$")
    if SAFE_ARG.fullmatch(arg):
        return escaped
    return '"' + escaped.replace("\\", "\\\\").replace('"', '\\"') + '"'


# ---------------------------------------------------------------------------------------- wheel


def project_root() -> Path | None:
    """The checkout this package runs from, or None when installed from a wheel."""
    root = Path(__file__).resolve().parents[2]
    if (root / "pyproject.toml").is_file() and (root / "hatch_build.py").is_file():
        return root
    return None


def build_wheel(out_dir: str | os.PathLike[str], root: Path | None = None) -> Path:
    """Build the ``mnist_edge`` wheel from the checkout into ``out_dir``.

    Uses hatchling in a subprocess when it is installed (about a second, no network); otherwise
    ``pip wheel``, which fetches the build backend in an isolated environment.
    """
    root = root or project_root()
    if root is None:
        raise UserError("not running from an mnist-edge checkout: pass --wheel FILE.whl")
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    try:
        import hatchling  # noqa: F401

        cmd = [sys.executable, "-c", "import sys, hatchling.build as b; "
               "print(b.build_wheel(sys.argv[1]))", str(out)]
    except ImportError:
        cmd = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(root)]
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    wheels = sorted(out.glob("mnist_edge-*.whl"))
    if proc.returncode != 0 or not wheels:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no wheel produced"]
        raise UserError(f"building the wheel failed: {tail[0]}")
    return wheels[-1]


def wheel_requirements(wheel: str | os.PathLike[str]) -> list[str]:
    """``Requires-Dist`` lines of a wheel's METADATA."""
    try:
        with zipfile.ZipFile(wheel) as zf:
            meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
            text = zf.read(meta).decode("utf-8")
    except (OSError, zipfile.BadZipFile, StopIteration) as exc:
        raise UserError(f"{wheel}: not a readable wheel ({exc or 'no METADATA'})")
    return [line.split(":", 1)[1].strip() for line in text.splitlines()
            if line.startswith("Requires-Dist:")]


def _req_name(req: str) -> str:
    return re.split(r"[\s;<>=!~\[(]", req, maxsplit=1)[0].lower().replace("_", "-")


def device_requirements(wheel: str | os.PathLike[str]) -> list[str]:
    """What install.sh installs next to the wheel (which goes in with ``--no-deps``).

    The wheel's base dependencies, minus extras (TensorFlow lives in ``[train]``), with
    ``opencv-python`` swapped for ``opencv-python-headless`` (no GUI libraries on a headless Pi),
    and without the interpreter: install.sh chooses LiteRT or tflite-runtime for the platform.
    """
    out = []
    for req in wheel_requirements(wheel):
        if "extra ==" in req.replace("extra==", "extra =="):
            continue
        name = _req_name(req)
        if name in ("ai-edge-litert", "tflite-runtime"):
            continue
        if name == "opencv-python":
            req = "opencv-python-headless" + req[len("opencv-python"):]
        req = req.split(";", 1)[0].strip()
        out.append(req)
    bad = [r for r in out if _req_name(r) in FORBIDDEN]
    if bad:
        raise UserError(f"the wheel depends on {bad[0]}: a device bundle must not need TensorFlow")
    return out


# -------------------------------------------------------------------------------------- samples


def default_samples_dir() -> Path | None:
    """The checkout's ``samples/`` folder when it has labels, else None."""
    root = project_root()
    if root is not None and (root / "samples" / "labels.json").is_file():
        return root / "samples"
    return None


def collect_samples(dest: Path, samples: Path | None, data: Path | None,
                    model: Path | None = None) -> dict[str, str]:
    """Fill ``dest`` with self-test images: ``samples`` if given (a labels.json folder, or a
    class-folder set), else for a model trained on class folders a few crops of its own set,
    else the checkout's ``samples/``, else the first test digits of each class from MNIST
    (``--data``)."""
    from mnist_edge.shipping.selftest import read_labels, write_folder_samples, write_mnist_samples

    if samples is not None and _is_class_folder_set(samples):
        return write_folder_samples(dest, samples)
    crop_set = _crop_model_folder(model) if model is not None and samples is None else None
    if data is None and crop_set is not None:
        return write_folder_samples(dest, crop_set)
    source = samples or (None if data else default_samples_dir())
    if source is not None:
        labels = read_labels(source)
        dest.mkdir(parents=True, exist_ok=True)
        for name in labels:
            if not (source / name).is_file():
                raise UserError(f"{source / 'labels.json'} names {name}, which is missing")
            shutil.copy2(source / name, dest / name)
        shutil.copy2(source / "labels.json", dest / "labels.json")
        return labels
    import numpy as np

    from mnist_edge.training.data import load_mnist

    try:
        mnist = load_mnist(data)
    except UserError as exc:
        raise UserError(f"no self-test samples: pass --samples DIR or --data mnist.npz ({exc})")
    picks = np.concatenate([np.flatnonzero(mnist.y_test == d)[:SAMPLES_PER_CLASS]
                            for d in range(10)])
    return write_mnist_samples(dest, mnist.x_test[picks], mnist.y_test[picks])


def _is_class_folder_set(folder: Path) -> bool:
    """A folder of class folders (each holding images) and no labels.json: ``--samples`` may
    be the set a crop model was trained on."""
    from mnist_edge.reading.camera import IMAGE_EXTS

    if not folder.is_dir() or (folder / "labels.json").is_file():
        return False
    subdirs = [d for d in folder.iterdir() if d.is_dir() and not d.name.startswith(".")]
    return bool(subdirs) and all(
        any(f.suffix.lower() in IMAGE_EXTS for f in d.rglob("*")) for d in subdirs)


def _crop_model_folder(model: Path) -> Path | None:
    """The class-folder set a crop model was trained on (its sidecar's ``data_dir``); a
    UserError when that set is gone, since MNIST digits would fail its self-test."""
    from mnist_edge.reading.sidecar import load_model_info

    info = load_model_info(model)
    if not info.whole_crops:
        return None
    try:
        folder = json.loads(model.with_suffix(".json").read_text()).get("data_dir")
    except (OSError, ValueError):
        folder = None
    if not folder or not Path(folder).is_dir():
        raise UserError(f"{model} reads your own crops: pass --samples DIR (a folder of class "
                        "folders) for its self-test")
    return Path(folder)


# --------------------------------------------------------------------------------------- bundle


def _template(name: str) -> str:
    return resources.files("mnist_edge.shipping").joinpath("files", name).read_text("utf-8")


def _check_model(model: Path) -> None:
    if not model.is_file():
        raise UserError(f"model not found: {model}")
    if model.suffix != ".tflite":
        raise UserError(f"{model}: bundle a converted .tflite model (run mnist-edge convert)")


def _unit_text(model_file: str, runner: RunnerOptions) -> str:
    args = ["--model", f"@PREFIX@/current/{model_file}", *runner.args()]
    return _template("mnist-edge.service").replace(
        "@ARGS@", " ".join(systemd_quote(a) if not a.startswith("@PREFIX@") else a for a in args)
    )


def _env_text(values: dict[str, str]) -> str:
    lines = ["# Facts about this bundle for install.sh (sourced by sh; written by mnist-edge)."]
    for key, value in values.items():
        if not SAFE_VALUE.fullmatch(value):
            raise UserError(f"{key}={value!r}: only letters, digits and ._+@,:/- allowed")
        lines.append(f"{key}={value}")
    return "\n".join(lines) + "\n"


def _stage(
    stage: Path, model: Path, wheel: Path, samples: Path | None, data: Path | None,
    runner: RunnerOptions, service: str,
) -> dict[str, Any]:
    """Write every bundle file into ``stage``; returns the manifest (without file hashes)."""
    (stage / "wheels").mkdir(parents=True)
    (stage / "model").mkdir()
    shutil.copy2(wheel, stage / "wheels" / wheel.name)
    shutil.copy2(model, stage / "model" / model.name)
    sidecar = model.with_suffix(".json")
    meta: dict[str, Any] | None = None
    if sidecar.is_file():
        shutil.copy2(sidecar, stage / "model" / sidecar.name)
        try:
            meta = json.loads(sidecar.read_text("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            meta = None
    labels = collect_samples(stage / "samples", samples, data, model)
    requirements = device_requirements(wheel)
    (stage / "requirements.txt").write_text("\n".join(requirements) + "\n", "utf-8")
    install = stage / "install.sh"
    install.write_text(_template("install.sh"), "utf-8")
    install.chmod(0o755)
    model_file = f"model/{model.name}"
    if runner.config is not None:
        _stage_config(stage / CONFIG_DIR, runner.config)
    (stage / "mnist-edge.service").write_text(_unit_text(model_file, runner), "utf-8")
    return {
        "format": FORMAT,
        "mnist_edge_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "wheel": f"wheels/{wheel.name}",
        "model": {"file": model_file, "sha256": sha256_file(model), "bytes": model.stat().st_size,
                  "metadata": f"model/{sidecar.name}" if sidecar.is_file() else None,
                  "summary": _model_summary(meta)},
        "samples": {"dir": "samples", "count": len(labels)},
        "requirements": requirements,
        "service": {"name": service, "webcam_args": runner.args(secret=False),
                    "serve": runner.serve, "jsonl": runner.jsonl, "source": runner.source},
    }


def _stage_config(dest: Path, config: Path) -> None:
    """Check a meter config and ship it with its reference image (beside it, renamed in the
    file if it lived elsewhere)."""
    from mnist_edge.reading.meter import load_config

    loaded = load_config(config)
    dest.mkdir()
    text = config.read_text("utf-8")
    if loaded.reference_image is not None:
        if not loaded.reference_image.is_file():
            raise UserError(f"{config}: no reference image {loaded.reference_image}")
        name = loaded.reference_image.name
        shutil.copy2(loaded.reference_image, dest / name)
        text = re.sub(r'(?m)^(\s*image\s*=\s*)(".*?"|\'.*?\')',
                      lambda m: m.group(1) + json.dumps(name), text)
    (dest / config.name).write_text(text, "utf-8")


def _model_summary(meta: dict[str, Any] | None) -> dict[str, Any]:
    """A few facts from the model's sidecar JSON, when it has them."""
    if not isinstance(meta, dict):
        return {}
    keys = ("arch", "quantization", "test_accuracy", "accuracy", "input_dtype")
    return {k: meta[k] for k in keys if k in meta and isinstance(meta[k], str | int | float)}


def _hash_files(stage: Path) -> dict[str, dict[str, Any]]:
    return {
        p.relative_to(stage).as_posix(): {"sha256": sha256_file(p), "bytes": p.stat().st_size}
        for p in sorted(stage.rglob("*")) if p.is_file()
    }


def _write_tar(stage: Path, target: Path) -> None:
    """Pack ``stage`` as ``mnist-edge-bundle/...``: sorted, root-owned, fixed times."""
    def clean(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        info.mtime = 0 if info.isdir() else info.mtime
        info.mode = 0o755 if (info.isdir() or info.name.endswith(".sh")) else 0o644
        return info

    with tarfile.open(target, "w:gz", compresslevel=6) as tar:
        tar.add(stage, arcname=BUNDLE_ROOT, recursive=False, filter=clean)
        for path in sorted(stage.rglob("*")):
            tar.add(path, arcname=f"{BUNDLE_ROOT}/{path.relative_to(stage).as_posix()}",
                    recursive=False, filter=clean)


def build_bundle(
    out: str | os.PathLike[str] = DEFAULT_OUT,
    model: str | os.PathLike[str] | None = None,
    wheel: str | os.PathLike[str] | None = None,
    samples: str | os.PathLike[str] | None = None,
    data: str | os.PathLike[str] | None = None,
    runner: RunnerOptions | None = None,
    service: str = DEFAULT_SERVICE,
    verify: bool = True,
    progress: Progress | None = None,
) -> BundleInfo:
    """Build the device bundle at ``out`` (atomically) and return what was written.

    ``verify`` runs the self-test here first, with the local interpreter: a model that misreads
    its own samples is refused before it reaches a device.
    """
    from mnist_edge.common.paths import default_model

    note = progress or (lambda _msg: None)
    model_path = Path(model) if model else default_model()
    _check_model(model_path)
    if not re.fullmatch(r"[A-Za-z0-9_.@-]+", service):
        raise UserError(f"service name {service!r}: use letters, digits and _.@-")
    runner = runner or RunnerOptions()
    runner.args()  # validate early
    atomic.check_writable(out)
    with tempfile.TemporaryDirectory(prefix="mnist-edge-bundle.") as tmp:
        stage = Path(tmp) / BUNDLE_ROOT
        if wheel:
            wheel_path = Path(wheel)
            if not wheel_path.is_file() or wheel_path.suffix != ".whl":
                raise UserError(f"--wheel {wheel_path}: not a .whl file")
        else:
            note("building the mnist_edge wheel")
            wheel_path = build_wheel(Path(tmp) / "wheel")
        note("collecting model and self-test samples")
        manifest = _stage(stage, model_path, wheel_path,
                          Path(samples) if samples else None, Path(data) if data else None,
                          runner, service)
        if verify:
            note("self-testing the model on its samples")
            _verify_locally(stage, manifest)
        files = _hash_files(stage)
        bundle_id = _bundle_id(model_path, files)
        env = {"BUNDLE_FORMAT": str(FORMAT), "BUNDLE_ID": bundle_id,
               "MNIST_EDGE_VERSION": __version__, "WHEEL": manifest["wheel"],
               "MODEL": manifest["model"]["file"], "SERVICE_NAME": service,
               "SERVE": runner.serve or "", "JSONL": runner.jsonl or ""}
        if not SAFE_VALUE.fullmatch(env["JSONL"]):
            raise UserError(f"--jsonl {runner.jsonl!r}: use a path of letters, digits, ._+@,:/-")
        (stage / "bundle.env").write_text(_env_text(env), "utf-8")
        manifest["id"] = bundle_id
        manifest["files"] = _hash_files(stage)
        atomic.write_json(stage / "manifest.json", manifest)
        sums = _hash_files(stage)
        (stage / "SHA256SUMS").write_text(
            "".join(f"{v['sha256']}  {k}\n" for k, v in sums.items()), "utf-8")
        note("packing")
        target = atomic.write_with(out, lambda tmp_path: _write_tar(stage, tmp_path))
    return BundleInfo(target, sha256_file(target), target.stat().st_size, manifest)


def _bundle_id(model: Path, files: dict[str, dict[str, Any]]) -> str:
    """A content id: same inputs, same id (install.sh uses it for manual installs)."""
    digest = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()[:10]
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", model.stem)[:40]
    return f"{__version__}-{stem}-{digest}"


def _verify_locally(stage: Path, manifest: dict[str, Any]) -> None:
    from mnist_edge.shipping.selftest import run_selftest

    report = run_selftest(stage / manifest["model"]["file"], stage / "samples")
    if not report.ok:
        raise UserError(f"the model fails its own self-test here, not bundling: {report.summary()}"
                        " (use other --samples, or --no-verify to bundle anyway)")


def read_manifest(bundle: str | os.PathLike[str]) -> dict[str, Any]:
    """The manifest inside a bundle file (for ``deploy --bundle`` and the tests)."""
    try:
        with tarfile.open(bundle, "r:gz") as tar:
            member = tar.extractfile(f"{BUNDLE_ROOT}/manifest.json")
            if member is None:
                raise KeyError("manifest.json")
            return json.load(io.TextIOWrapper(member, encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"bundle not found: {bundle}")
    except (OSError, tarfile.TarError, KeyError, ValueError) as exc:
        raise UserError(f"{bundle}: not an mnist-edge bundle ({exc})")
