"""The ``mnist-edge`` command line: thin Typer commands over the library.

Each command parses its options and calls one library function that the tests call too. Heavy
imports (TensorFlow, OpenCV) happen inside the commands, so ``mnist-edge --help`` and the
device-side commands start fast and never import TensorFlow.

Errors a user can fix are raised as :class:`~mnist_edge.common.errors.UserError` and shown as a
single ``error: ...`` line on stderr with exit status 2 (see :func:`main`).
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

COMMAND_ORDER = ("train", "convert", "evaluate", "predict", "webcam", "regions", "serve", "bundle",
                 "deploy", "selftest")


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
    """Import a TensorFlow-backed module without TensorFlow's C++ start-up banner on stderr."""
    import importlib
    import os

    from mnist_edge.common.quiet import native_stderr_silenced

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with native_stderr_silenced():
        return importlib.import_module(module)


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

    from mnist_edge.training.data import load_mnist

    dataset = load_mnist(data).subset(train_samples, test_samples)
    _run_training(dataset, arch.value, out, epochs, batch_size, seed, quiet)


def _run_training(dataset, arch: str, out, epochs, batch_size, seed, quiet) -> None:
    """Train with a rich progress bar and print the seed script's two lines plus a summary."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TimeElapsedColumn, TimeRemainingColumn
    from rich.table import Table

    training = import_quietly("mnist_edge.training.train")
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


ModelFileOption = Annotated[
    Path | None,
    typer.Option("--model", "-m", help="The .tflite model to ship [default: the shipped int8 "
                                       "model].", show_default=False),
]
SamplesOption = Annotated[
    Path | None,
    typer.Option("--samples", help="Self-test images: a folder with labels.json mapping file "
                                   "names to digits [default: ./samples of the checkout, else "
                                   "20 MNIST test digits from --data].", show_default=False),
]
WheelOption = Annotated[
    Path | None,
    typer.Option("--wheel", help="Ship this mnist_edge wheel instead of building one from the "
                                 "checkout.", show_default=False),
]
ServeOption = Annotated[
    str | None, typer.Option("--serve", help="Service: webcam --serve HOST:PORT (web view).",
                             show_default=False),
]
SourceOption = Annotated[
    str | None, typer.Option("--source", help="Service: webcam --source (camera index, file, "
                                              "URL) [default: camera 0].", show_default=False),
]
JsonlOption = Annotated[
    str | None, typer.Option("--jsonl", help="Service: webcam --jsonl FILE (relative paths are "
                                             "inside the deploy folder).", show_default=False),
]
ServiceNameOption = Annotated[
    str, typer.Option("--service-name", help="systemd unit name on the device."),
]
NoVerifyOption = Annotated[
    bool, typer.Option("--no-verify", help="Skip the self-test on this machine before packing."),
]


def _make_bundle(out, model, samples, data, wheel, serve, source, jsonl, service_name,
                 no_verify, console, meter=(None, None, None)):
    """Build a bundle with a spinner on stderr; shared by ``bundle`` and ``deploy``.
    ``meter``: (--config, --mqtt, --post) for the service."""
    from mnist_edge.cli.meter import check_meter_options
    from mnist_edge.shipping.bundle import RunnerOptions, build_bundle

    config, mqtt, post = check_meter_options(*meter)

    with console.status("bundling") as spinner:
        return build_bundle(
            out, model=model, wheel=wheel, samples=samples, data=data,
            runner=RunnerOptions(serve=serve, source=source, jsonl=jsonl, config=config,
                                 mqtt=mqtt, post=post),
            service=service_name, verify=not no_verify,
            progress=lambda msg: spinner.update(f"bundle: {msg}"),
        )


@app.command()
@user_errors
def bundle(
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the .tar.gz.")] = Path(
        "dist/mnist-edge-bundle.tar.gz"),
    model: ModelFileOption = None,
    samples: SamplesOption = None,
    data: DataOption = None,
    wheel: WheelOption = None,
    serve: ServeOption = None,
    source: SourceOption = None,
    jsonl: JsonlOption = None,
    service_name: ServiceNameOption = "mnist-edge",
    no_verify: NoVerifyOption = False,
    config: ConfigOption = None,
    mqtt: MqttOption = None,
    post: PostOption = None,
    ansible: AnsibleOption = None,
    serial: SerialOption = 2,
) -> None:
    """Pack what a Raspberry Pi needs into one .tar.gz (no TensorFlow anywhere).

    Inside: the mnist_edge wheel, the model and its JSON, self-test samples, install.sh, a
    systemd unit, and a manifest with every file's sha256.

    On the Pi: tar xzf mnist-edge-bundle.tar.gz && sh mnist-edge-bundle/install.sh

    Examples:

      mnist-edge bundle

      mnist-edge bundle --model models/seed_int8.tflite --serve 0.0.0.0:8080 -o pi.tar.gz
    """
    from rich.console import Console

    info = _make_bundle(out, model, samples, data, wheel, serve, source, jsonl, service_name,
                        no_verify, Console(stderr=True), meter=(config, mqtt, post))
    m = info.manifest
    typer.echo(f"{info.path}  {info.size / 1024:.0f} KiB  sha256 {info.sha256[:16]}...  "
               f"id {m['id']}")
    typer.echo(f"  model {m['model']['file']}, {m['samples']['count']} self-test samples, "
               f"{len(m['files'])} files, service: webcam --headless "
               f"{' '.join(m['service']['webcam_args'])}".rstrip())
    if ansible is not None:
        from mnist_edge.cli.meter import write_ansible_dir

        write_ansible_dir(ansible, info, serial)


@app.command()
@user_errors
def deploy(
    hosts: Annotated[list[str], typer.Argument(help="user@host[:port], one or more (names "
                                                    "from ~/.ssh/config work).",
                                               show_default=False)],
    remote_dir: Annotated[str, typer.Option(help="Deploy folder on the device.")] = "~/mnist-edge",
    ssh_config: Annotated[Path | None, typer.Option(
        "--ssh-config", help="ssh config file (ssh -F).", show_default=False)] = None,
    identity: Annotated[Path | None, typer.Option(
        "--identity", "-i", help="ssh private key (ssh -i).", show_default=False)] = None,
    bundle_file: Annotated[Path | None, typer.Option(
        "--bundle", help="Deploy this bundle instead of building one.", show_default=False)] = None,
    model: ModelFileOption = None,
    samples: SamplesOption = None,
    data: DataOption = None,
    wheel: WheelOption = None,
    serve: ServeOption = None,
    source: SourceOption = None,
    jsonl: JsonlOption = None,
    service_name: ServiceNameOption = "mnist-edge",
    no_verify: NoVerifyOption = False,
    venv: Annotated[str | None, typer.Option(help="venv on the device [default: REMOTE_DIR/"
                                                  "venv].", show_default=False)] = None,
    python: Annotated[str | None, typer.Option(help="Python on the device [default: python3].",
                                               show_default=False)] = None,
    wheelhouse: Annotated[str | None, typer.Option(
        help="Folder of wheels on the device: install dependencies offline from it.",
        show_default=False)] = None,
    runtime: Annotated[str | None, typer.Option(
        help="Interpreter on the device: auto, litert or tflite-runtime.",
        show_default=False)] = None,
    no_service: Annotated[bool, typer.Option("--no-service",
                                             help="Do not install/restart the service.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Build the bundle and print the "
                                                            "plan; contact no host.")] = False,
    rollback: Annotated[bool, typer.Option("--rollback", help="Make the previous release "
                                                              "current again.")] = False,
    status: Annotated[bool, typer.Option("--status", help="Show release, service state and "
                                                          "last reading.")] = False,
    jobs: Annotated[int, typer.Option(min=1, help="Hosts worked on at once.")] = 8,
    timeout: Annotated[float, typer.Option(min=1, help="Seconds allowed for each remote step "
                                                       "(a first install downloads ~100 MB).")
                       ] = 900.0,
    config: ConfigOption = None,
    mqtt: MqttOption = None,
    post: PostOption = None,
) -> None:
    """Deploy to Raspberry Pis over ssh: upload, install, self-test, then switch and restart.

    A failure on a host leaves its previous release current and running. Hosts run in
    parallel; a summary table follows. Exit status 1 if any host failed.

    Examples:

      mnist-edge deploy pi@raspberrypi.local --serve 0.0.0.0:8080

      mnist-edge deploy pi@10.0.0.5 pi@10.0.0.6:2222 --model models/seed_int8.tflite

      mnist-edge deploy pi@raspberrypi.local --status

      mnist-edge deploy pi@raspberrypi.local --rollback
    """
    from rich.console import Console

    from mnist_edge.shipping import deploy as dp

    if sum([dry_run, rollback, status]) > 1:
        raise fail("--dry-run, --rollback and --status are exclusive")
    targets = [dp.parse_host(h) for h in hosts]
    for path, flag in ((ssh_config, "--ssh-config"), (identity, "--identity")):
        if path is not None and not path.is_file():
            raise fail(f"{flag} {path}: no such file")
    opts = dp.DeployOptions(
        remote_dir=dp.check_remote_dir(remote_dir),
        ssh=dp.Ssh(config=ssh_config, identity=identity),
        install_args=dp.install_args(venv, python, wheelhouse, runtime, not no_service),
        timeout=timeout,
    )
    console = Console(stderr=True)
    if rollback or status:
        work = dp.rollback_host if rollback else dp.status_host
        results = dp.for_hosts(targets, lambda h: work(h, opts, None), jobs)
        _report(results, Console())
        return
    if bundle_file is not None:
        if any(v is not None for v in (model, samples, data, wheel, serve, source, jsonl,
                                       config, mqtt, post)):
            raise fail("--bundle already holds the model, samples and service options; "
                       "pass those to 'mnist-edge bundle' instead")
        from mnist_edge.shipping.bundle import read_manifest, sha256_file

        read_manifest(bundle_file)
        path, sha = bundle_file, sha256_file(bundle_file)
        _deploy_or_plan(dp, targets, path, sha, opts, jobs, dry_run, console)
        return
    import tempfile

    with tempfile.TemporaryDirectory(prefix="mnist-edge-deploy.") as tmp:
        info = _make_bundle(Path(tmp) / "bundle.tar.gz", model, samples, data, wheel, serve,
                            source, jsonl, service_name, no_verify, console,
                            meter=(config, mqtt, post))
        _deploy_or_plan(dp, targets, info.path, info.sha256, opts, jobs, dry_run, console)


def _deploy_or_plan(dp, targets, path, sha, opts, jobs, dry_run, console) -> None:
    """Print the plan, or deploy with one spinner line per host, then the summary table."""
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TimeElapsedColumn

    if dry_run:
        for line in dp.plan(targets, path, sha, opts):
            typer.echo(line)
        return
    with Progress(SpinnerColumn(), "[progress.description]{task.description}",
                  TimeElapsedColumn(), console=console, transient=True) as progress:
        tasks = {h.spec: progress.add_task(f"{h.spec}: waiting", total=None) for h in targets}

        def step(host: str, what: str) -> None:
            progress.update(tasks[host], description=f"{host}: {what}")

        results = dp.deploy(targets, path, opts, jobs=jobs, step=step, bundle_sha=sha)
    _report(results, Console())


def _report(results, console) -> None:
    """The summary table, then one details line per host; exit 1 when any host failed."""
    from rich.table import Table

    action = results[0].action if results else "deploy"
    table = Table(title=f"mnist-edge {action}")
    for col in ("host", "result", "current", "previous", "time"):
        table.add_column(col, no_wrap=True)
    for r in results:
        table.add_row(r.host, "[green]ok[/]" if r.ok else "[red]FAILED[/]", r.release or "-",
                      r.previous or "-", f"{r.seconds:.1f} s")
    console.print(table)
    for r in results:
        details = r.message
        if action == "status" and r.ok:
            details = f"service: {r.message}; last reading: {r.values.get('reading') or '-'}"
        elif not r.ok and r.step:
            details = f"{r.step}: {r.message}"
            if r.values.get("log"):
                details += f" (log on the device: {r.values['log']})"
        console.print(f"{r.host}: {details}", markup=False, highlight=False, soft_wrap=True)
    if not all(r.ok for r in results):
        raise typer.Exit(1)


@app.command()
@user_errors
def selftest(
    release: Annotated[Path | None, typer.Argument(
        help="An unpacked bundle / release folder [default: $MNIST_EDGE_RELEASE, set by the "
             "release's bin/mnist-edge].", show_default=False)] = None,
    model: Annotated[Path | None, typer.Option("--model", "-m", help="Test this model instead "
                                               "of the release's.", show_default=False)] = None,
    samples: Annotated[Path | None, typer.Option("--samples", help="Samples folder instead of "
                                                 "the release's.", show_default=False)] = None,
    runtime: Annotated[str, typer.Option(help="auto, litert, tflite_runtime or tensorflow.")
                       ] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print the full report as JSON.")
                       ] = False,
) -> None:
    """Read the sample digits with the deployed model; exit 1 unless every one is right.

    install.sh runs it on the device before it switches to a new release.

    Examples:

      ~/mnist-edge/current/bin/mnist-edge selftest

      mnist-edge selftest --model models/edge_int8.tflite --samples samples/
    """
    import json
    import os

    from mnist_edge.shipping.selftest import release_paths, run_selftest

    if model is None or samples is None:
        where = release or (Path(os.environ["MNIST_EDGE_RELEASE"])
                            if os.environ.get("MNIST_EDGE_RELEASE") else None)
        if where is None:
            raise fail("name a release folder, or both --model and --samples")
        rel_model, rel_samples = release_paths(where)
        model, samples = model or rel_model, samples or rel_samples
    report = run_selftest(model, samples, runtime=runtime)
    typer.echo(json.dumps(report.to_dict(), indent=2) if as_json else report.summary())
    if not report.ok:
        raise typer.Exit(1)


@app.command()
@user_errors
def serve(
    address: Annotated[str, typer.Argument(
        help="[HOST:]PORT to listen on. A bare port binds to 127.0.0.1 (this machine only); "
             "use 0.0.0.0:PORT to let other machines in.", metavar="[HOST:]PORT",
    )] = "127.0.0.1:8080",
    model: Annotated[Path | None, typer.Option(
        "--model", "-m", help="The .tflite model (default: the shipped int8 model, or "
                              "$MNIST_EDGE_MODEL).", show_default=False)] = None,
    runtime: Annotated[str, typer.Option(help="auto, litert, tflite_runtime or tensorflow.")
                       ] = "auto",
    threads: Annotated[int | None, typer.Option(min=1, help="Interpreter threads (default: "
                                                "the runtime's choice).", show_default=False)
                       ] = None,
) -> None:
    """Serve the draw-a-digit page, POST /predict and /healthz (no camera needed).

    Open http://HOST:PORT/draw, draw a digit, and see what the model reads with the
    probabilities of all ten classes. Scripts can POST a PNG or JPEG to /predict. Ctrl-C stops.

    Examples:

      mnist-edge serve                       # http://127.0.0.1:8080/draw

      mnist-edge serve 0.0.0.0:8080 --model models/seed_int8.tflite

      curl --data-binary @digit.png http://127.0.0.1:8080/predict
    """
    from mnist_edge.web.server import serve as serve_web

    serve_web(address, model, runtime=runtime, threads=threads,
              echo=lambda text: typer.echo(text, err=True))


class Quant(str, Enum):
    """``convert --quant`` choices (kept here so --help needs no TensorFlow)."""

    int8 = "int8"
    float16 = "float16"
    dynamic = "dynamic"
    none = "none"


class IoType(str, Enum):
    """``convert --io`` choices: the dtype of an int8 model's input and output tensors."""

    int8 = "int8"
    uint8 = "uint8"
    float = "float"


TfliteRuntimeOption = Annotated[
    str, typer.Option("--runtime", help="Interpreter for .tflite: auto (LiteRT, then "
                                        "tflite_runtime, then tensorflow), litert, "
                                        "tflite_runtime or tensorflow.")
]
LimitOption = Annotated[
    int | None, typer.Option("--limit", min=1, help="Use only the first N test images (quick "
                                                    "runs).", show_default=False)
]


@app.command()
@user_errors
def convert(
    model: Annotated[Path, typer.Argument(help="The trained Keras model (.h5 or .keras).",
                                          show_default=False)],
    quant: Annotated[Quant, typer.Option(
        help="int8: full integer (calibrated on training images); float16: half-size weights; "
             "dynamic: int8 weights, float activations; none: float32.")] = Quant.int8,
    io: Annotated[IoType, typer.Option(
        "--io", help="int8 only: dtype of the model's input/output (uint8 for runtimes that "
                     "want it; float keeps float I/O around the int8 body).")] = IoType.int8,
    calibration: Annotated[int, typer.Option(
        min=1, help="int8 only: training images used to calibrate, balanced across the 10 "
                    "classes.")] = 500,
    seed: Annotated[int, typer.Option(help="Seed for drawing the calibration images.")] = 0,
    out_dir: Annotated[Path | None, typer.Option(
        "--out-dir", "-o", help="Where to write <name>_<quant>.tflite and .json [default: next "
                                "to MODEL].", show_default=False)] = None,
    data: DataOption = None,
    limit: LimitOption = None,
    runtime: TfliteRuntimeOption = "auto",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress or table.")] = False,
) -> None:
    """Convert a Keras model to .tflite and measure the file's test accuracy against Keras.

    Writes <name>_<quant>.tflite and a sidecar <name>_<quant>.json: source sha256,
    quantization, input/output details, labels, test accuracy of both models.

    --quant none writes <name>_float32.tflite.

    Examples:

      mnist-edge convert models/edge.h5 --data ../shared/data/mnist.npz

      mnist-edge convert models/seed.h5 --quant float16 --out-dir /tmp/models
    """
    from rich.console import Console

    from mnist_edge.training.convert import check_keras_file
    from mnist_edge.training.data import load_mnist

    check_keras_file(model)  # a wrong file fails before seconds of loading MNIST
    console = Console(stderr=True, quiet=quiet)
    with console.status("loading MNIST") as status:
        dataset = load_mnist(data).subset(None, limit)
        result = _convert_with_status(model, dataset, quant.value, io.value, out_dir,
                                      calibration, seed, runtime, status)
    if not quiet:
        _print_convert_summary(result, console)


def _convert_with_status(model, dataset, quant, io_type, out_dir, calibration, seed, runtime,
                         status):
    from mnist_edge.training import convert as conv

    return conv.convert(
        model, dataset, quant=quant, io_type=io_type, out_dir=out_dir, calibration=calibration,
        seed=seed, runtime=runtime, command=_command_line(),
        progress=lambda msg: status.update(msg),
    )


def _command_line() -> str:
    """The command as typed, for the sidecar (like ``train.command_line``, without TensorFlow)."""
    return " ".join(["mnist-edge", *sys.argv[1:]])


def _print_convert_summary(result, console) -> None:
    """The summary table: size, accuracy of Keras and of the file, the difference."""
    from rich.table import Table

    info = result.info
    table = Table(title="convert summary", show_header=False)
    for key, value in [
        ("model", str(result.tflite_path)), ("sidecar", str(result.sidecar_path)),
        ("quantization", f"{info['quantization']} (I/O {info['io_type']})"),
        ("size", f"{info['size_bytes'] / 1024:.1f} KB ({info['size_bytes']:,} bytes)"),
        ("test images", f"{info['test_examples']:,}"),
        ("Keras accuracy", f"{100 * info['keras_test_accuracy']:.2f}%"),
        (".tflite accuracy", f"{100 * info['test_accuracy']:.2f}% "
                             f"(measured with {info['measured_with']})"),
        ("difference", f"{info['accuracy_difference_pp']:+.2f} percentage points"),
        ("same prediction as Keras", f"{100 * info['agreement_with_keras']:.2f}%"),
    ]:
        table.add_row(key, value)
    console.print(table)


@app.command()
@user_errors
def evaluate(
    model: Annotated[Path, typer.Argument(help="A .tflite, .h5 or .keras model.",
                                          show_default=False)],
    out_dir: Annotated[Path | None, typer.Option(
        "--out-dir", "-o", help="Where to write <name>_eval.json, <name>_confusion.png and "
                                "<name>_errors.png [default: next to MODEL].",
        show_default=False)] = None,
    data: DataOption = None,
    limit: LimitOption = None,
    runtime: TfliteRuntimeOption = "auto",
    threads: Annotated[int | None, typer.Option(min=1, help="Interpreter threads for .tflite "
                                                "[default: the runtime's choice].",
                                                show_default=False)] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only the two result lines.")
                     ] = False,
) -> None:
    """Measure a model on the MNIST test set: JSON metrics, confusion matrix and error grid PNGs.

    Examples:

      mnist-edge evaluate models/edge_int8.tflite --data ../shared/data/mnist.npz

      mnist-edge evaluate models/seed.h5 --limit 1000 --out-dir /tmp/eval
    """
    from rich.console import Console

    from mnist_edge.training.data import load_mnist
    from mnist_edge.training.evaluate import check_model_file
    from mnist_edge.training.evaluate import evaluate as run_evaluation

    check_model_file(model)  # a wrong file fails before seconds of loading MNIST
    console = Console(stderr=True, quiet=quiet)
    with console.status("evaluating"):
        result = run_evaluation(model, load_mnist(data), out_dir=out_dir, limit=limit,
                                runtime=runtime, threads=threads, command=_command_line())
    m = result.metrics
    print(f"Test Accuracy: {m['test_accuracy']:.4f}")
    print(f"Test Error: {m['test_error_percent']:.2f}")
    worst = min(m["per_class_accuracy"].items(), key=lambda kv: kv[1])
    console.print(f"{m['test_examples']:,} test digits with {m['runtime']}, "
                  f"{m['misclassified_count']} wrong, weakest class {worst[0]} "
                  f"({100 * worst[1]:.1f}%)")
    for path in (result.json_path, result.confusion_path, result.errors_path):
        console.print(f"wrote {path}")


ReaderModelOption = Annotated[Path | None, typer.Option(
    "--model", "-m", help="The .tflite model [default: the shipped int8 model, or "
                          "$MNIST_EDGE_MODEL].", show_default=False)]
InvertOption = Annotated[bool, typer.Option(
    "--invert", help="Light ink on a dark surface (chalk on a board); default: dark ink on "
                     "light paper.")]
MinConfidenceOption = Annotated[float, typer.Option(
    min=0.0, max=1.0, help="Drop digits the model is less sure of than this.")]
ReaderRuntimeOption = Annotated[str, typer.Option(
    help="Interpreter: auto (LiteRT, then tflite_runtime, then tensorflow), litert, "
         "tflite_runtime or tensorflow.")]
ReaderThreadsOption = Annotated[int | None, typer.Option(
    min=1, help="Interpreter threads [default: the runtime's choice].", show_default=False)]


def _digit_reader(model, runtime, threads, invert, min_confidence):
    """The DigitReader the device commands share (imported here: no OpenCV for --help)."""
    from mnist_edge.reading.reader import DigitReader

    return DigitReader(model, runtime=runtime, threads=threads, invert=invert,
                       min_confidence=min_confidence)


@app.command()
@user_errors
def predict(
    paths: Annotated[list[Path], typer.Argument(
        help="Images, or folders of images (read in name order).", show_default=False)],
    model: ReaderModelOption = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help='One JSON object per image per line: {"path": ..., "digits": '
                       '[{"label", "confidence", "box": [x, y, w, h]}]}.')] = False,
    probabilities: Annotated[bool, typer.Option(
        help="With --json, add each digit's 10 class probabilities.")] = False,
    invert: InvertOption = False,
    min_confidence: MinConfidenceOption = 0.5,
    runtime: ReaderRuntimeOption = "auto",
    threads: ReaderThreadsOption = None,
) -> None:
    """Read every digit in images: a photo of a page, a whole frame, or one cropped digit.

    Digits are listed left to right, rows top to bottom. A file that cannot be read gets an
    error line on stderr (exit status 2) and the others are still read.

    Examples:

      mnist-edge predict samples/

      mnist-edge predict photo.jpg --json

      mnist-edge predict chalkboard.png --invert --min-confidence 0.8
    """
    import json

    from mnist_edge.reading.predict import image_files, predict_files

    files = image_files(paths)
    reader = _digit_reader(model, runtime, threads, invert, min_confidence)
    failed = 0
    results = []
    for result in predict_files(reader, files):
        if result.error:
            failed += 1
            typer.echo(f"error: {result.error}", err=True)
        elif as_json:
            typer.echo(json.dumps(result.to_dict(probabilities)))
        else:
            results.append(result)
    if not as_json:
        _print_predictions(results)
    if failed:
        raise typer.Exit(EXIT_USER_ERROR)


def _print_predictions(results) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table()
    table.add_column("image", overflow="fold")
    table.add_column("reading")
    table.add_column("confidence")
    for r in results:
        confidence = " ".join(f"{d.confidence:.2f}" for d in r.digits)
        table.add_row(r.path, r.reading or "no digits found", confidence or "-")
    Console().print(table)


@app.command()
@user_errors
def webcam(
    source: Annotated[str, typer.Option(
        "--source", "-s", help="Camera index, video file, image, folder of images, or stream "
                               "URL (rtsp://, http://).")] = "0",
    model: ReaderModelOption = None,
    headless: Annotated[bool | None, typer.Option(
        "--headless/--window", help="No window (a Pi without a monitor) / force one "
                                    "[default: a window if a display exists].",
        show_default=False)] = None,
    jsonl: Annotated[str | None, typer.Option(
        "--jsonl", metavar="FILE|-", help='Write one line per frame: {"frame": n, "time": s, '
                                          '"digits": [...]}; "-" for stdout.',
        show_default=False)] = None,
    invert: InvertOption = False,
    min_confidence: MinConfidenceOption = 0.5,
    runtime: ReaderRuntimeOption = "auto",
    threads: ReaderThreadsOption = None,
    smooth: Annotated[int, typer.Option(
        min=0, help="Average each digit over about N frames so the reading does not flicker "
                    "(0: off).")] = 0,
    max_frames: Annotated[int | None, typer.Option(
        min=1, help="Stop after N frames.", show_default=False)] = None,
    serve: Annotated[str | None, typer.Option(
        "--serve", metavar="[HOST:]PORT", help="Also serve a live view in the browser: stream, "
        "reading, draw pad (a bare PORT binds 127.0.0.1; 0.0.0.0:PORT opens it to the "
        "network). A file source then plays at its own frame rate.", show_default=False)
    ] = None,
    loop: Annotated[bool, typer.Option(
        "--loop", help="Replay a file source from the start when it ends (a demo clip).")
    ] = False,
    config: ConfigOption = None,
    mqtt: MqttOption = None,
    post: PostOption = None,
    state_dir: StateDirOption = None,
) -> None:
    """Read digits live from a camera, a video, images or a stream.

    Shows boxes, labels, confidence and FPS in a window where a display exists (q or Esc
    quits, s saves a snapshot); headless otherwise. A file source is read frame by frame, in
    order, to its end. Ctrl-C stops cleanly and prints a summary.

    Examples:

      mnist-edge webcam                                 # camera 0, window

      mnist-edge webcam --source samples/digits.mp4 --headless --jsonl -

      mnist-edge webcam --source rtsp://pi.local:8554/cam --jsonl readings.jsonl --smooth 5

      mnist-edge webcam --serve 0.0.0.0:8080 --headless  # open http://<pi>:8080/

      mnist-edge webcam --source samples/digits.mp4 --serve 8080 --loop

      mnist-edge webcam --config meter.toml --mqtt mqtt://ha:secret@homeassistant.local
    """
    from mnist_edge.cli.meter import meter_run
    from mnist_edge.reading import live

    reader = _digit_reader(model, runtime, threads, invert, min_confidence)
    say = functools.partial(typer.echo, err=True)
    with meter_run(reader, config, mqtt, post, state_dir, say) as hooks:
        run = functools.partial(live.run, source, reader, headless=headless, jsonl=jsonl,
                                smoothing=smooth, max_frames=max_frames, loop=loop,
                                read_frame=hooks.read_frame, on_reading=hooks.on_reading)
        if serve is None:
            summary = run(on_status=say)
        else:
            from mnist_edge.web.server import live_server

            with live_server(serve, model, runtime=runtime, threads=threads, echo=say) as hub:
                for key in ("meter", "publish"):  # /status: values, skips, broker state
                    hub.status_extras[key] = functools.partial(
                        lambda k: hooks.status().get(k), key)

                def status(text: str) -> None:
                    say(text)
                    hub.set_status(text)

                # realtime: a file plays at its own FPS so the stream looks live
                summary = run(on_status=status, on_frame=hub.publish, realtime=True)
    extra = hooks.status()  # after meter_run has stopped the publishers (queue flushed)
    for line in summary.lines():
        say(line)
    for line in _meter_lines(extra):
        say(line)


def _meter_lines(status: dict[str, Any]) -> list[str]:
    """Summary lines for a meter run: skipped frames, values, what was published."""
    lines = []
    meter = status.get("meter")
    if meter:
        lines.append(f"meter: {meter['skipped']} of {meter['frames']} frames skipped"
                     + (f" (last: {meter['last_skip']})" if meter["skipped"] else ""))
        for name, v in meter["values"].items():
            lines.append(f"value {name}: last good {v['last_good']}, {v['accepted']} accepted, "
                         f"{v['rejected']} rejected")
    for name, p in status.get("publish", {}).items():
        lines.append(f"{name}: {p['sent']} sent, {p['queued']} queued, {p['dropped']} dropped"
                     + (f", last error: {p['last_error']}" if p.get("last_error") else ""))
    return lines


from mnist_edge.cli.meter import (  # noqa: E402  (registers `regions`; needs app above)
    AnsibleOption,
    ConfigOption,
    MqttOption,
    PostOption,
    SerialOption,
    StateDirOption,
)


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
