"""The shipping commands: ``bundle``, ``deploy`` and ``selftest``."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated

import typer

from mnist_edge.cli.common import (
    DataOption,
    RuntimeOption,
    app,
    fail,
    model_option,
    user_errors,
)
from mnist_edge.cli.meter import (
    AnsibleOption,
    ConfigOption,
    MqttOption,
    PostOption,
    SerialOption,
    check_meter_options,
    write_ansible_dir,
)
from mnist_edge.shipping.bundle import DEFAULT_OUT, DEFAULT_SERVICE
from mnist_edge.shipping.deploy import DEFAULT_REMOTE_DIR, INSTALL_RUNTIMES

ModelFileOption = model_option("The .tflite model to ship [default: the shipped int8 model].")
SamplesOption = Annotated[
    Path | None,
    typer.Option("--samples", help="Self-test images: a folder with labels.json mapping file "
                                   "names to digits, or a folder of class folders [default: a "
                                   "crop model's own class folders; ./samples of the checkout; "
                                   "else 20 MNIST test digits from --data].",
                 show_default=False),
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
ServiceAuthFileOption = Annotated[
    str | None, typer.Option("--auth-file", help="Service: webcam --auth-file FILE, a "
                             "USER:PASSWORD file on the device that the --serve view asks for "
                             "(relative paths are inside the deploy folder).", show_default=False),
]
ServiceNameOption = Annotated[
    str, typer.Option("--service-name", help="systemd unit name on the device."),
]
NoVerifyOption = Annotated[
    bool, typer.Option("--no-verify", help="Skip the self-test on this machine before packing."),
]


@dataclass(frozen=True)
class BundleChoices:
    """What goes into a bundle, as ``bundle`` and ``deploy`` take it from the command line."""

    model: Path | None = None
    samples: Path | None = None
    data: Path | None = None
    wheel: Path | None = None
    serve: str | None = None
    source: str | None = None
    jsonl: str | None = None
    auth_file: str | None = None
    service_name: str = DEFAULT_SERVICE
    no_verify: bool = False
    config: Path | None = None  # a meter config (shipped with its reference image)
    mqtt: str | None = None
    post: str | None = None

    def content_given(self) -> bool:
        """Whether any option that changes a bundle's content was given."""
        return any(v is not None for v in (self.model, self.samples, self.data, self.wheel,
                                           self.serve, self.source, self.jsonl,
                                           self.auth_file, self.config, self.mqtt, self.post))

    def build(self, out: Path, console):
        """Build the bundle with a spinner on ``console``; shared by ``bundle`` and ``deploy``.
        The meter and publishing options are checked before anything is built."""
        from mnist_edge.shipping.bundle import RunnerOptions, build_bundle

        check_meter_options(self.config, self.mqtt, self.post)
        with console.status("bundling") as spinner:
            return build_bundle(
                out, model=self.model, wheel=self.wheel, samples=self.samples, data=self.data,
                runner=RunnerOptions(serve=self.serve, source=self.source, jsonl=self.jsonl,
                                     auth_file=self.auth_file, config=self.config,
                                     mqtt=self.mqtt, post=self.post),
                service=self.service_name, verify=not self.no_verify,
                progress=lambda msg: spinner.update(f"bundle: {msg}"),
            )


# The options of BundleChoices' fields, in its order (their defaults are the fields').
_BUNDLE_OPTIONS = {"model": ModelFileOption, "samples": SamplesOption, "data": DataOption,
                   "wheel": WheelOption, "serve": ServeOption, "source": SourceOption,
                   "jsonl": JsonlOption, "auth_file": ServiceAuthFileOption,
                   "service_name": ServiceNameOption,
                   "no_verify": NoVerifyOption, "config": ConfigOption, "mqtt": MqttOption,
                   "post": PostOption}


def bundle_options(command: Callable[..., None]) -> Callable[..., None]:
    """Give ``command`` the options that choose a bundle's content, shared by ``bundle`` and
    ``deploy``: Typer sees them in the place of the command's ``choices`` parameter, and the
    command gets them as one :class:`BundleChoices`."""
    signature = inspect.signature(command, eval_str=True)
    params = list(signature.parameters.values())
    at = [p.name for p in params].index("choices")
    options = [inspect.Parameter(f.name, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                 default=f.default, annotation=_BUNDLE_OPTIONS[f.name])
               for f in fields(BundleChoices)]

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        choices = BundleChoices(**{f.name: kwargs.pop(f.name) for f in fields(BundleChoices)})
        return command(*args, choices=choices, **kwargs)

    new = signature.replace(parameters=[*params[:at], *options, *params[at + 1:]])
    wrapper.__signature__ = new  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in new.parameters.values()}
    return wrapper


@app.command()
@user_errors
@bundle_options
def bundle(
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the .tar.gz.")
                   ] = DEFAULT_OUT,
    choices: BundleChoices = BundleChoices(),  # noqa: B008 (replaced by its options)
    ansible: AnsibleOption = None,
    serial: SerialOption = 2,
) -> None:
    """Pack what a Raspberry Pi needs into one .tar.gz (no TensorFlow anywhere).

    Inside: the mnist_edge wheel, the model and its JSON, self-test samples, install.sh, a
    systemd unit, and a manifest with every file's sha256.

    On the Pi: tar xzf mnist-edge-bundle.tar.gz && sh mnist-edge-bundle/install.sh

    Examples:

    \b
      mnist-edge bundle
      mnist-edge bundle --model models/seed_int8.tflite --serve 0.0.0.0:8080 -o pi.tar.gz
      mnist-edge bundle --config meter.toml --mqtt mqtt://ha:secret@ha.local --ansible fleet
    """
    from rich.console import Console

    info = choices.build(out, Console(stderr=True))
    m = info.manifest
    typer.echo(f"{info.path}  {info.size / 1024:.0f} KiB  sha256 {info.sha256[:16]}...  "
               f"id {m['id']}")
    typer.echo(f"  model {m['model']['file']}, {m['samples']['count']} self-test samples, "
               f"{len(m['files'])} files, service: webcam --headless "
               f"{' '.join(m['service']['webcam_args'])}".rstrip())
    if ansible is not None:
        write_ansible_dir(ansible, info, serial)


@app.command()
@user_errors
@bundle_options
def deploy(
    hosts: Annotated[list[str], typer.Argument(help="user@host[:port], one or more (names "
                                                    "from ~/.ssh/config work).",
                                               show_default=False)],
    remote_dir: Annotated[str, typer.Option(help="Deploy folder on the device.")
                          ] = DEFAULT_REMOTE_DIR,
    ssh_config: Annotated[Path | None, typer.Option(
        "--ssh-config", help="ssh config file (ssh -F).", show_default=False)] = None,
    identity: Annotated[Path | None, typer.Option(
        "--identity", "-i", help="ssh private key (ssh -i).", show_default=False)] = None,
    bundle_file: Annotated[Path | None, typer.Option(
        "--bundle", help="Deploy this bundle instead of building one.", show_default=False)] = None,
    choices: BundleChoices = BundleChoices(),  # noqa: B008 (replaced by its options)
    venv: Annotated[str | None, typer.Option(help="Folder of venvs on the device, one per "
                                                  "dependency set [default: REMOTE_DIR/venvs].",
                                             show_default=False)] = None,
    python: Annotated[str | None, typer.Option(help="Python on the device [default: python3].",
                                               show_default=False)] = None,
    wheelhouse: Annotated[str | None, typer.Option(
        help="Folder of wheels on the device: install dependencies offline from it.",
        show_default=False)] = None,
    install_runtime: Annotated[str | None, typer.Option(
        "--runtime",
        help=f"Interpreter package install.sh puts on the device (pip names: "
             f"{', '.join(INSTALL_RUNTIMES[:-1])} or {INSTALL_RUNTIMES[-1]}).",
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
) -> None:
    """Deploy to Raspberry Pis over ssh: upload, install, self-test, then switch and restart.

    A failure on a host leaves its previous release current and running. Hosts run in
    parallel; a summary table follows. Exit status 1 if any host failed.

    Examples:

    \b
      mnist-edge deploy pi@raspberrypi.local --serve 0.0.0.0:8080
      mnist-edge deploy pi@10.0.0.5 pi@10.0.0.6:2222 --model models/seed_int8.tflite
      mnist-edge deploy pi@raspberrypi.local --status
      mnist-edge deploy pi@raspberrypi.local --rollback
    \f
    Long because a Typer command's signature is its option list and its docstring is its
    --help; the code below is about 25 lines.
    """
    from rich.console import Console

    from mnist_edge.shipping import deploy as dp

    plan = dp.prepare(hosts, mode=dp.choose_mode(dry_run=dry_run, rollback=rollback, status=status),
                      remote_dir=remote_dir, ssh_config=ssh_config, identity=identity,
                      install=dp.install_args(venv, python, wheelhouse, install_runtime,
                                              not no_service),
                      timeout=timeout)
    console = Console(stderr=True)
    if plan.mode in ("rollback", "status"):
        work = dp.rollback_host if plan.mode == "rollback" else dp.status_host
        results = dp.for_hosts(plan.targets, lambda h: work(h, plan.options, None), jobs)
        _report(results, Console())
        return
    if bundle_file is not None:
        sha = dp.check_bundle_file(bundle_file, other_bundle_options=choices.content_given())
        _deploy_or_plan(dp, plan, bundle_file, sha, jobs, console)
        return
    import tempfile

    with tempfile.TemporaryDirectory(prefix="mnist-edge-deploy.") as tmp:
        info = choices.build(Path(tmp) / "bundle.tar.gz", console)
        _deploy_or_plan(dp, plan, info.path, info.sha256, jobs, console)


def _deploy_or_plan(dp, plan, path, sha, jobs, console) -> None:
    """Print the plan, or deploy with one spinner line per host, then the summary table."""
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TimeElapsedColumn

    targets, opts = plan.targets, plan.options
    if plan.mode == "dry-run":
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
    model: model_option("Test this model instead of the release's.") = None,
    samples: Annotated[Path | None, typer.Option("--samples", help="Samples folder instead of "
                                                 "the release's.", show_default=False)] = None,
    runtime: RuntimeOption = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print the full report as JSON.")
                       ] = False,
) -> None:
    """Read the sample digits with the deployed model; exit 1 unless every one is right.

    install.sh runs it on the device before it switches to a new release.

    Examples:

    \b
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
    report = run_selftest(model, samples, runtime=runtime.value)
    typer.echo(json.dumps(report.to_dict(), indent=2) if as_json else report.summary())
    if not report.ok:
        raise typer.Exit(1)
