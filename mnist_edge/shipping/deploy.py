"""``mnist-edge deploy``: put a bundle on one or more devices over ssh, safely and in parallel.

Per host, with the system ``ssh``/``scp`` (so ``~/.ssh/config``, agents and jump hosts work):

1. ``prepare``: create ``<remote-dir>/{releases,incoming,logs}``, read the current state;
2. upload the bundle to ``incoming/<id>.tar.gz`` with scp;
3. ``install``: check the upload's sha256, unpack it to ``releases/<id>`` and run its
   ``install.sh``, which self-tests the release and only then switches ``current`` (``ln -sfn``
   + ``mv -T``, atomic) and restarts the service. Any failure leaves the previous release
   current and running, and the half-installed release is removed.

Host names and options only ever travel as separate ``argv`` entries of ``ssh``/``scp`` (after
``--``); the remote command line holds nothing but ``sh -s -- ACTION ARGS`` with every argument
shell-quoted, and the device-side logic (``files/remote.sh``) comes in on standard input.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

from mnist_edge.common.errors import UserError

DEFAULT_REMOTE_DIR = "~/mnist-edge"
# deploy --runtime / install.sh --runtime: which interpreter *package* pip installs on the device
# (pip names, hence "tflite-runtime"), not the interpreter a reading command picks
# (reading.runtime.RUNTIMES, "tflite_runtime").
INSTALL_RUNTIMES = ("auto", "litert", "tflite-runtime")
HOST_RE = re.compile(r"^(?:(?P<user>[A-Za-z0-9._][A-Za-z0-9._-]*)@)?"
                     r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._][A-Za-z0-9._-]*)"
                     r"(?::(?P<port>[0-9]{1,5}))?$")
REMOTE_DIR_RE = re.compile(r"(~|~/[A-Za-z0-9._/+@,-]*|/[A-Za-z0-9._/+@,-]*|[A-Za-z0-9._+@,-]"
                           r"[A-Za-z0-9._/+@,-]*)")
Step = Callable[[str, str], None]
# Room a deploy needs on the device beyond the bundle's own size (x3: upload, unpacked copy,
# installed code); a new dependency set needs far more (a venv), which install.sh reports.
MIN_FREE_MB = 32


def _run(argv: Sequence[str], **kwargs) -> subprocess.CompletedProcess:
    """``subprocess.run`` for ssh and scp, each in its own session: a Ctrl-C in the terminal
    reaches deploy, which decides what to stop, rather than killing an ssh that is in the middle
    of an install (whose result the host would then know and deploy would not)."""
    return subprocess.run(argv, start_new_session=True, **kwargs)


@dataclass(frozen=True)
class Host:
    """A device as ``user@host[:port]`` (user and port optional; ssh config fills them)."""

    spec: str
    host: str
    user: str | None = None
    port: int | None = None

    @property
    def destination(self) -> str:
        """What ssh gets as its destination argument."""
        host = self.host.strip("[]")
        return f"{self.user}@{host}" if self.user else host

    @property
    def scp_prefix(self) -> str:
        """``user@host:`` for scp (IPv6 addresses in brackets)."""
        return f"{self.user + '@' if self.user else ''}{self.host}:"


def parse_host(spec: str) -> Host:
    """Parse ``user@host[:port]``; anything ssh could mistake for an option is refused."""
    match = HOST_RE.match(spec)
    if not match:
        raise UserError(f"bad host {spec!r}: expected user@host[:port] (letters, digits, ._-)")
    port = match["port"]
    if port is not None and not 0 < int(port) < 65536:
        raise UserError(f"bad host {spec!r}: port {port} is out of range")
    return Host(spec, match["host"], match["user"], int(port) if port else None)


def check_remote_dir(remote_dir: str) -> str:
    """The deploy folder on the device: ``~/...``, absolute, or relative to the home folder."""
    if not REMOTE_DIR_RE.fullmatch(remote_dir):
        raise UserError(f"--remote-dir {remote_dir!r}: use ~/..., /... or a name, with letters, "
                        "digits and ._/+@,-")
    return remote_dir


@dataclass(frozen=True)
class Ssh:
    """How to reach the hosts: ``-F``, ``-i`` and timeouts, shared by every ssh and scp call."""

    config: Path | None = None
    identity: Path | None = None
    connect_timeout: int = 10
    control_path: str | None = None  # set per host while a deploy holds a master connection
    # The master exits by itself after this many idle seconds: a deploy that is SIGKILLed (no
    # chance to close it) leaves no ssh process behind for long.
    persist_s: int = 120

    def _common(self, master: bool = False) -> list[str]:
        opts: list[str] = []
        if self.config is not None:
            opts += ["-F", str(self.config)]
        if self.identity is not None:
            opts += ["-i", str(self.identity)]
        # BatchMode: never stop at a password prompt in the middle of a parallel deploy.
        # ServerAlive: a connection that drops is noticed in seconds, not at TCP timeout.
        opts += ["-o", "BatchMode=yes", "-o", f"ConnectTimeout={self.connect_timeout}",
                 "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3"]
        if self.control_path:
            # One TCP + auth handshake per host per deploy; later steps ride on it and fail
            # (rather than quietly reconnect) if it dropped.
            opts += ["-o", f"ControlPath={self.control_path}",
                     "-o", f"ControlMaster={'yes' if master else 'no'}"]
        return opts

    def master_argv(self, host: Host) -> list[str]:
        """Open the shared connection and put it in the background (``-f -N``)."""
        port = ["-p", str(host.port)] if host.port else []
        return ["ssh", *self._common(master=True), "-o", f"ControlPersist={self.persist_s}",
                "-f", "-N", *port, "--", host.destination]

    def exit_argv(self, host: Host) -> list[str]:
        port = ["-p", str(host.port)] if host.port else []
        return ["ssh", *self._common(), "-O", "exit", *port, "--", host.destination]

    def ssh_argv(self, host: Host, remote_args: Sequence[str]) -> list[str]:
        """``ssh ... -- host sh -s -- ARGS`` (the remote line is the only shell-parsed part)."""
        port = ["-p", str(host.port)] if host.port else []
        command = shlex.join(["sh", "-s", "--", *remote_args])
        return ["ssh", *self._common(), *port, "--", host.destination, command]

    def scp_argv(self, host: Host, local: Path, remote_path: str,
                 legacy: bool = False) -> list[str]:
        """scp over SFTP (OpenSSH's default), or ``legacy``: ``scp -O``, the old protocol that
        needs no SFTP subsystem on the device."""
        port = ["-P", str(host.port)] if host.port else []
        return ["scp", "-q", *(["-O"] if legacy else []), *self._common(), *port, "--",
                str(local), host.scp_prefix + remote_path]

    def cat_argv(self, host: Host, remote_path: str) -> list[str]:
        """``ssh host sh -c 'cat > PATH'``: the upload of last resort (stdin is the file)."""
        port = ["-p", str(host.port)] if host.port else []
        command = shlex.join(["sh", "-c", 'cat > "$1"', "sh", remote_path])
        return ["ssh", *self._common(), *port, "--", host.destination, command]


def remote_script() -> str:
    """The device-side driver (``files/remote.sh``), fed to ``sh -s`` on stdin."""
    return resources.files("mnist_edge.shipping").joinpath("files", "remote.sh").read_text("utf-8")


@dataclass
class RemoteRun:
    """One ssh call: exit status, parsed KEY=value lines, and the raw output."""

    returncode: int
    values: dict[str, str]
    stdout: str
    stderr: str

    @property
    def error(self) -> str:
        """The best one-line reason for a failure."""
        for text in (self.stderr, self.stdout):
            lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
            errors = [ln for ln in lines if ln.startswith("error:")]
            if errors:
                return errors[-1][len("error:"):].strip()
        lines = [ln.strip() for ln in (self.stderr + "\n" + self.stdout).splitlines() if ln.strip()]
        return lines[-1] if lines else f"exit status {self.returncode}"


def run_remote(ssh: Ssh, host: Host, args: Sequence[str], timeout: float) -> RemoteRun:
    """Run ``remote.sh ARGS`` on ``host``."""
    argv = ssh.ssh_argv(host, args)
    try:
        proc = _run(argv, input=remote_script(), capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return RemoteRun(124, {}, "", f"error: no answer within {timeout:.0f} s")
    except FileNotFoundError:
        raise UserError("ssh not found: install OpenSSH's client (apt install openssh-client)")
    values = {}
    for line in proc.stdout.splitlines():
        key, sep, value = line.partition("=")
        if sep and re.fullmatch(r"[a-z_]+", key):
            values[key] = value.strip()
    return RemoteRun(proc.returncode, values, proc.stdout, proc.stderr)


@dataclass
class HostResult:
    """What happened on one host."""

    host: str
    ok: bool
    action: str
    step: str = ""
    release: str = ""
    previous: str = ""
    message: str = ""
    seconds: float = 0.0
    started: float = 0.0
    finished: float = 0.0
    output: str = ""
    values: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    upload: str = ""  # how the bundle went up: "scp", "scp -O" or "ssh cat"


@dataclass(frozen=True)
class DeployOptions:
    """Everything about a deploy except the hosts and the bundle."""

    remote_dir: str = DEFAULT_REMOTE_DIR
    ssh: Ssh = field(default_factory=Ssh)
    install_args: tuple[str, ...] = ()
    timeout: float = 900.0


def install_args(
    venv: str | None = None, python: str | None = None, wheelhouse: str | None = None,
    runtime: str | None = None, service: bool = True,
) -> tuple[str, ...]:
    """The ``install.sh`` options a deploy passes through to the device (``runtime``: one of
    :data:`INSTALL_RUNTIMES`, a pip package to install)."""
    args: list[str] = []
    for flag, value in (("--venv", venv), ("--python", python), ("--wheelhouse", wheelhouse),
                        ("--runtime", runtime)):
        if value:
            args += [flag, value]
    if not service:
        args.append("--no-service")
    return tuple(args)


def release_id(bundle_sha256: str, now: float | None = None) -> str:
    """``20250101-120000-1a2b3c4d``: sortable by time, and says which bundle it holds."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime(now)) + "-" + bundle_sha256[:8]


def _self_test_line(output: str) -> str:
    lines = [ln for ln in output.splitlines() if ln.startswith("self-test")]
    return lines[-1] if lines else ""


def open_master(ssh: Ssh, host: Host, timeout: float) -> str | None:
    """Start the host's shared ssh connection; None if it is up, else why it is not."""
    with tempfile.TemporaryFile("w+") as err:
        try:
            proc = _run(ssh.master_argv(host), stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=err, timeout=timeout)
        except subprocess.TimeoutExpired:
            return f"no answer within {timeout:.0f} s"
        except FileNotFoundError:
            raise UserError("ssh not found: install OpenSSH's client (apt install openssh-client)")
        err.seek(0)
        lines = [ln.strip() for ln in err.read().splitlines() if ln.strip()]
    return None if proc.returncode == 0 else (lines[-1] if lines else
                                              f"ssh exit status {proc.returncode}")


def close_master(ssh: Ssh, host: Host) -> None:
    _run(ssh.exit_argv(host), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=30, check=False)


MUX_PREFIX = "mnist-edge-ssh."


def sweep_stale_mux_dirs(root: str | None = None) -> list[Path]:
    """Remove the control-socket folders of deploys that were killed (their pid is gone and
    their master has exited); returns what was removed."""
    removed = []
    for folder in Path(root or tempfile.gettempdir()).glob(f"{MUX_PREFIX}*.*"):
        pid_text = folder.name[len(MUX_PREFIX):].split(".", 1)[0]
        if not pid_text.isdigit() or not folder.is_dir() or (folder / "master").exists():
            continue
        try:
            os.kill(int(pid_text), 0)
            continue  # that deploy is still running
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


def deploy_host(
    host: Host, bundle: Path, bundle_sha: str, rid: str, opts: DeployOptions,
    step: Step | None = None, cancel: threading.Event | None = None,
) -> HostResult:
    """connect -> prepare -> upload -> install (self-test, switch, service) on one host.

    ``cancel`` (set on Ctrl-C) stops the host before its next step; an install already under
    way runs to its end, so the result says what the host really did."""
    cancel = cancel or threading.Event()
    if cancel.is_set():
        now = time.time()
        return HostResult(host.spec, False, "deploy", "connect", message="cancelled (Ctrl-C) "
                          "before connecting: nothing changed on the host", started=now,
                          finished=now)
    sweep_stale_mux_dirs()
    with tempfile.TemporaryDirectory(prefix=f"{MUX_PREFIX}{os.getpid()}.") as mux:
        ssh = replace(opts.ssh, control_path=str(Path(mux) / "master"))
        if step:
            step(host.spec, "connecting")
        started = time.time()
        reason = open_master(ssh, host, opts.ssh.connect_timeout + 30)
        if reason is not None:
            finished = time.time()
            return HostResult(host.spec, False, "deploy", "connect", message=reason,
                              seconds=finished - started, started=started, finished=finished)
        connected = time.time() - started
        try:
            result = _deploy_steps(host, bundle, bundle_sha, rid, replace(opts, ssh=ssh), step,
                                   cancel)
        finally:
            close_master(ssh, host)
        result.timings = {"connect": connected, **result.timings}
        result.started, result.seconds = started, result.finished - started
        return result


def _deploy_steps(
    host: Host, bundle: Path, bundle_sha: str, rid: str, opts: DeployOptions,
    step: Step | None, cancel: threading.Event,
) -> HostResult:
    note = step or (lambda _h, _s: None)
    started = time.time()
    result = HostResult(host.spec, False, "deploy", started=started)

    def done(ok: bool, stage: str, message: str, run: RemoteRun | None = None) -> HostResult:
        result.ok, result.step, result.message = ok, stage, message
        if run is not None:
            result.values = run.values
            result.output = run.stdout + run.stderr
            result.release = run.values.get("current", result.release)
            result.previous = run.values.get("previous", result.previous)
        result.finished = time.time()
        result.seconds = result.finished - started
        note(host.spec, "done" if ok else f"failed at {stage}")
        return result

    def cancelled(stage: str) -> HostResult:
        runs = f"it still runs {result.release}" if result.release else "it has no release yet"
        return done(False, stage, f"cancelled (Ctrl-C) before {stage}: nothing changed on the "
                                  f"host; {runs}")

    note(host.spec, "preparing")
    need_mb = 3 * bundle.stat().st_size // 2**20 + MIN_FREE_MB
    prep = run_remote(opts.ssh, host, ["prepare", opts.remote_dir, rid, str(need_mb)],
                      opts.timeout)
    result.timings["prepare"] = time.time() - started
    if prep.returncode != 0:
        return done(False, "connect", prep.error, prep)
    result.release, result.previous = prep.values.get("current", ""), prep.values.get(
        "previous", "")
    remote_dir = prep.values.get("dir", "")
    if not remote_dir.startswith("/"):
        return done(False, "connect", f"device did not report its deploy folder: {prep.stdout!r}")

    if cancel.is_set():
        return cancelled("upload")
    note(host.spec, "uploading")
    mark = time.time()
    try:
        method, reason = upload_bundle(opts, host, bundle, f"{remote_dir}/incoming/{rid}.tar.gz",
                                       lambda text: note(host.spec, text))
    except subprocess.TimeoutExpired:
        return done(False, "upload", f"upload took longer than {opts.timeout:.0f} s")
    result.timings["upload"] = time.time() - mark
    result.upload = method
    if reason:
        return done(False, "upload", f"upload failed: {reason}")

    if cancel.is_set():
        return cancelled("install")
    note(host.spec, "installing + self-test")
    mark = time.time()
    inst = run_remote(opts.ssh, host, ["install", remote_dir, rid, bundle_sha,
                                       *opts.install_args], opts.timeout)
    result.timings["install"] = time.time() - mark
    if inst.returncode in (124, 255):  # no answer, or the connection dropped: ask the host
        return _read_back(host, rid, opts, inst, done)
    if inst.returncode != 0:
        return done(False, "install", inst.error, inst)
    via = "" if method == "scp" else f" (uploaded with {method}: the device has no SFTP)"
    return done(True, "done", (_self_test_line(inst.stdout) or "installed") + via, inst)


def _read_back(host: Host, rid: str, opts: DeployOptions, inst: RemoteRun,
               done: Callable[..., HostResult]) -> HostResult:
    """The install's answer was lost: what the host's own links say it runs now (a new
    connection, since the shared one may be what broke)."""
    back = run_remote(replace(opts.ssh, control_path=None), host, ["status", opts.remote_dir],
                      60)
    if back.returncode != 0:
        return done(False, "install", f"{inst.error}; the host could not be asked what it runs "
                                      f"now ({back.error}): check with deploy --status", inst)
    if back.values.get("current") == rid:
        return done(True, "done", f"installed: {rid} is current (the answer was lost: "
                                  "read back from the host)", back)
    return done(False, "install", f"{inst.error}; the host still runs "
                                  f"{back.values.get('current') or 'no release'}", back)


def _no_sftp(stderr: str) -> bool:
    """scp's words when the device has no SFTP subsystem (minimal images, some embedded sshd)."""
    text = stderr.lower()
    return "subsystem request failed" in text or "connection closed" in text or "sftp" in text


def upload_bundle(opts: DeployOptions, host: Host, bundle: Path, remote_path: str,
                  say: Callable[[str], None]) -> tuple[str, str]:
    """Upload ``bundle``: scp (SFTP), else ``scp -O`` where the device has no SFTP, else
    ``ssh ... cat >``. Returns (the method used, "" or the failure's last line)."""
    def last_line(proc: subprocess.CompletedProcess, what: str) -> str:
        return (proc.stderr.strip().splitlines() or [f"{what} exit status {proc.returncode}"])[-1]

    proc = _run(opts.ssh.scp_argv(host, bundle, remote_path), capture_output=True,
                          text=True, timeout=opts.timeout)
    if proc.returncode == 0:
        return "scp", ""
    if not _no_sftp(proc.stderr):
        return "scp", last_line(proc, "scp")
    say("no SFTP on the device: uploading with scp -O (the legacy scp protocol)")
    proc = _run(opts.ssh.scp_argv(host, bundle, remote_path, legacy=True),
                          capture_output=True, text=True, timeout=opts.timeout)
    if proc.returncode == 0:
        return "scp -O", ""
    say("scp -O failed too: streaming the bundle over ssh (cat >)")
    with open(bundle, "rb") as fh:
        proc = _run(opts.ssh.cat_argv(host, remote_path), stdin=fh,
                              capture_output=True, timeout=opts.timeout)
    if proc.returncode == 0:
        return "ssh cat", ""
    err = proc.stderr.decode(errors="replace").strip().splitlines()
    return "ssh cat", err[-1] if err else f"ssh exit status {proc.returncode}"


def rollback_host(host: Host, opts: DeployOptions, step: Step | None = None) -> HostResult:
    """Make the previous release current again on one host, and restart the service."""
    started = time.time()
    if step:
        step(host.spec, "rolling back")
    run = run_remote(opts.ssh, host, ["rollback", opts.remote_dir, *opts.install_args],
                     opts.timeout)
    ok = run.returncode == 0
    finished = time.time()
    message = next((ln for ln in run.stdout.splitlines() if ln.startswith("rolled back")), "")
    return HostResult(host.spec, ok, "rollback", "done" if ok else "rollback",
                      run.values.get("current", ""), run.values.get("previous", ""),
                      message if ok else run.error, finished - started, started, finished,
                      run.stdout + run.stderr, run.values)


def status_host(host: Host, opts: DeployOptions, step: Step | None = None) -> HostResult:
    """Release, service state and last reading of one host."""
    started = time.time()
    if step:
        step(host.spec, "asking")
    run = run_remote(opts.ssh, host, ["status", opts.remote_dir], opts.timeout)
    ok = run.returncode == 0
    finished = time.time()
    return HostResult(host.spec, ok, "status", "done" if ok else "status",
                      run.values.get("current", ""), run.values.get("previous", ""),
                      run.values.get("service", "") if ok else run.error, finished - started,
                      started, finished, run.stdout + run.stderr, run.values)


def for_hosts(
    hosts: Sequence[Host], work: Callable[[Host], HostResult], jobs: int = 8,
    on_interrupt: Callable[[], None] | None = None,
) -> list[HostResult]:
    """Run ``work`` on every host in parallel; results in the order the hosts were given.

    A Ctrl-C calls ``on_interrupt`` (a deploy tells its hosts to stop before their next step)
    and waits for every host's result; without one, or at a second Ctrl-C, it stops waiting."""
    if not hosts:
        raise UserError("name at least one host (user@host[:port])")
    pool = ThreadPoolExecutor(max_workers=max(1, min(jobs, len(hosts))))
    futures = [pool.submit(work, h) for h in hosts]
    try:
        try:
            wait(futures)
        except KeyboardInterrupt:
            if on_interrupt is None:
                raise
            on_interrupt()
            wait(futures)
    except KeyboardInterrupt:
        pool.shutdown(wait=False, cancel_futures=True)
        raise UserError("interrupted: not waiting for the hosts (an install under way finishes "
                        "on its own; see what each host runs with deploy --status)") from None
    pool.shutdown()
    return [f.result() for f in futures]


def deploy(
    hosts: Sequence[Host], bundle: Path, opts: DeployOptions, jobs: int = 8,
    step: Step | None = None, bundle_sha: str | None = None,
    cancel: threading.Event | None = None,
) -> list[HostResult]:
    """Deploy ``bundle`` to every host in parallel, one release id for all of them.

    Ctrl-C (or ``cancel.set()``) stops each host before its next step and still returns every
    host's result: hosts that were installing finish and say so."""
    from mnist_edge.common.checksum import sha256_file

    sha = bundle_sha or sha256_file(bundle)
    rid = release_id(sha)
    cancel = cancel or threading.Event()
    return for_hosts(hosts, lambda h: deploy_host(h, bundle, sha, rid, opts, step, cancel),
                     jobs, on_interrupt=cancel.set)


def plan(hosts: Sequence[Host], bundle: Path, bundle_sha: str, opts: DeployOptions) -> list[str]:
    """What a deploy would run, command by command (``--dry-run``); contacts no host."""
    rid = release_id(bundle_sha)
    lines = [f"release {rid} (bundle {bundle}, sha256 {bundle_sha[:16]}...)"]
    for host in hosts:
        inc = f"<{opts.remote_dir}>/incoming/{rid}.tar.gz"
        lines += [
            f"{host.spec}:",
            "  1. prepare: " + shlex.join(opts.ssh.ssh_argv(host, ["prepare", opts.remote_dir,
                                                                     rid])),
            "  2. upload:  " + shlex.join(opts.ssh.scp_argv(host, bundle, inc)),
            "  3. install, self-test, switch current, restart service: " + shlex.join(
                opts.ssh.ssh_argv(host, ["install", f"<{opts.remote_dir}>", rid, bundle_sha,
                                         *opts.install_args])),
        ]
    return lines


# ---------------------------------------------------------------------------------------------
# checking a deploy request (what the CLI's options ask for) before any host is contacted


@dataclass(frozen=True)
class DeployRequest:
    """A checked ``mnist-edge deploy``: which hosts, how to reach them, and what to do."""

    targets: list[Host]
    options: DeployOptions
    mode: str  # "deploy", "dry-run", "rollback" or "status"


def choose_mode(*, dry_run: bool = False, rollback: bool = False, status: bool = False) -> str:
    """The one thing a deploy run does; raises UserError if more than one is asked for."""
    if sum([dry_run, rollback, status]) > 1:
        raise UserError("--dry-run, --rollback and --status are exclusive")
    return "dry-run" if dry_run else "rollback" if rollback else "status" if status else "deploy"


def prepare(hosts: Sequence[str], *, mode: str, remote_dir: str = DEFAULT_REMOTE_DIR,
            ssh_config: Path | None = None, identity: Path | None = None,
            install: tuple[str, ...] = (), timeout: float = 900.0) -> DeployRequest:
    """Check hosts, ssh files and the remote folder; raises UserError naming what is wrong."""
    targets = [parse_host(h) for h in hosts]
    for path, flag in ((ssh_config, "--ssh-config"), (identity, "--identity")):
        if path is not None and not path.is_file():
            raise UserError(f"{flag} {path}: no such file")
    options = DeployOptions(remote_dir=check_remote_dir(remote_dir),
                            ssh=Ssh(config=ssh_config, identity=identity),
                            install_args=install, timeout=timeout)
    return DeployRequest(targets, options, mode)


def check_bundle_file(path: Path, *, other_bundle_options: bool = False) -> str:
    """The sha256 of a ready bundle to deploy, once its manifest checks out."""
    from mnist_edge.common.checksum import sha256_file
    from mnist_edge.shipping.bundle import read_manifest

    if other_bundle_options:
        raise UserError("--bundle already holds the model, samples and service options; "
                        "pass those to 'mnist-edge bundle' instead")
    read_manifest(path)
    return sha256_file(path)
