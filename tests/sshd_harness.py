"""A real OpenSSH server on 127.0.0.1 for the deploy tests and benchmark (no ssh mocks).

:class:`SshLab` makes a throwaway host key, a user key, ``authorized_keys``, a client config (for
``--ssh-config``) and ``known_hosts``, and starts ``sshd -D -e -f <config>`` on free ports, as the
current user (root in CI: ``PermitRootLogin prohibit-password`` lets the key in).
:class:`DroppingProxy` forwards TCP to one of them and cuts any connection that sends more than
a set number of bytes: a network that drops mid-upload, for real.
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import hashlib
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

SSHD_CANDIDATES = ("/usr/sbin/sshd", "/usr/local/sbin/sshd")


def find_sshd() -> str | None:
    """The sshd binary (Debian's openssh-server), or None."""
    found = shutil.which("sshd")
    return found or next((p for p in SSHD_CANDIDATES if os.path.exists(p)), None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    """Wait until something accepts connections on 127.0.0.1:port and says SSH-."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1) as s:
            if s.recv(4) == b"SSH-":
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing answers ssh on 127.0.0.1:{port}")


@dataclass
class SshServer:
    port: int
    proc: subprocess.Popen
    user: str
    home: Path

    @property
    def host(self) -> str:
        """The deploy target, as a user types it."""
        return f"{self.user}@127.0.0.1:{self.port}"


@dataclass
class SshLab:
    """Keys, client config and any number of sshd instances under one temp folder."""

    root: Path
    user: str = field(default_factory=getpass.getuser)
    servers: list[SshServer] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o700)
        for name in ("host_key", "id_ed25519"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "mnist-edge-test",
                            "-f", str(self.root / name)], check=True)
        shutil.copy(self.root / "id_ed25519.pub", self.root / "authorized_keys")
        self.known_hosts.write_text("")
        self.config.write_text(
            "Host *\n"
            f"  IdentityFile {self.identity}\n"
            "  IdentitiesOnly yes\n"
            f"  UserKnownHostsFile {self.known_hosts}\n"
            "  GlobalKnownHostsFile /dev/null\n"
            "  StrictHostKeyChecking yes\n"
            "  LogLevel ERROR\n"
        )

    @property
    def identity(self) -> Path:
        return self.root / "id_ed25519"

    @property
    def config(self) -> Path:
        """The client config for ``mnist-edge deploy --ssh-config``."""
        return self.root / "ssh_config"

    @property
    def known_hosts(self) -> Path:
        return self.root / "known_hosts"

    def trust_port(self, port: int) -> None:
        """Add the (shared) host key for 127.0.0.1:port to known_hosts."""
        key = (self.root / "host_key.pub").read_text().split()[:2]
        with self.known_hosts.open("a") as fh:
            fh.write(f"[127.0.0.1]:{port} {' '.join(key)}\n")

    def start(self, sftp: bool = True) -> SshServer:
        """Start one more sshd on a free port and wait until it answers.

        Each server gives its sessions their own ``$HOME`` (sshd's ``SetEnv``), so two servers
        on this one machine look like two devices, each with its own ``~/mnist-edge``.
        """
        sshd = find_sshd()
        if sshd is None:
            raise RuntimeError("sshd not found: apt-get install openssh-server")
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation dir
        port = free_port()
        home = self.root / f"home_{port}"
        home.mkdir()
        conf = self.root / f"sshd_{port}.conf"
        conf.write_text(
            f"Port {port}\nListenAddress 127.0.0.1\nHostKey {self.root / 'host_key'}\n"
            f"PidFile {self.root / f'sshd_{port}.pid'}\n"
            f"AuthorizedKeysFile {self.root / 'authorized_keys'}\n"
            "StrictModes no\nUsePAM no\nPermitRootLogin prohibit-password\n"
            "PubkeyAuthentication yes\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\n"
            + ("Subsystem sftp internal-sftp\n" if sftp else "")  # without: a minimal device
            + f"MaxStartups 64\nMaxSessions 64\nLogLevel ERROR\nSetEnv HOME={home}\n"
        )
        log = (self.root / f"sshd_{port}.log").open("w")
        proc = subprocess.Popen([sshd, "-D", "-e", "-f", str(conf)], stdout=log, stderr=log,
                                stdin=subprocess.DEVNULL)
        try:
            wait_for_port(port)
        except TimeoutError:
            proc.kill()
            log_text = (self.root / f"sshd_{port}.log").read_text()
            raise RuntimeError(f"sshd did not start: {log_text}")
        self.trust_port(port)
        server = SshServer(port, proc, self.user, home)
        self.servers.append(server)
        return server

    def ssh(self, server: SshServer | int, command: str, timeout: float = 120
            ) -> subprocess.CompletedProcess:
        """Run a shell command on the "device" through real ssh (tests look at the result)."""
        port = server if isinstance(server, int) else server.port
        return subprocess.run(
            ["ssh", "-F", str(self.config), "-o", "BatchMode=yes", "-p", str(port),
             f"{self.user}@127.0.0.1", command],
            capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        for server in self.servers:
            server.proc.terminate()
        for server in self.servers:
            try:
                server.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                server.proc.kill()
        self.servers.clear()


def ansible_inventory(lab: SshLab, servers: list, extra: dict[int, str] | None = None) -> str:
    """An Ansible inventory (group ``mnist_edge``, hosts pi1, pi2, ...) reaching the lab's
    servers over loopback with the lab's ssh config; ``extra`` adds host variables by index
    (0-based), e.g. a host whose install is made to fail."""
    common = (f"ansible_host=127.0.0.1 ansible_user={lab.user} "
              f"ansible_ssh_common_args='-F {lab.config}' "
              "ansible_python_interpreter=/usr/bin/python3")
    lines = ["[mnist_edge]"]
    for i, server in enumerate(servers):
        more = f" {extra[i]}" if extra and i in extra else ""
        lines.append(f"pi{i + 1} ansible_port={server.port} {common}{more}")
    return "\n".join(lines) + "\n"


class DroppingProxy:
    """TCP forwarder to 127.0.0.1:target that resets any connection once it has carried more
    than ``drop_after`` bytes from the client: small ssh commands pass, a big upload dies."""

    def __init__(self, target: int, drop_after: int) -> None:
        self.target, self.drop_after = target, drop_after
        self.dropped = 0
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.port = self._sock.getsockname()[1]
        self._closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False),
                             daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, counted: bool) -> None:
        sent = 0
        try:
            while data := src.recv(65536):
                sent += len(data) if counted else 0
                if counted and sent > self.drop_after:
                    self.dropped += 1
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            with contextlib.suppress(OSError):
                # linger 0: close with a reset, like a cable pulled mid-transfer
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.close()

    def close(self) -> None:
        self._closed.set()
        self._sock.close()


def default_wheelhouse() -> Path:
    """Where the device wheels are cached: $MNIST_EDGE_WHEELHOUSE, else a per-Python temp dir."""
    tag = f"py{sys.version_info.major}{sys.version_info.minor}"
    return Path(os.environ.get("MNIST_EDGE_WHEELHOUSE")
                or Path(tempfile.gettempdir()) / f"mnist-edge-wheelhouse-{tag}")


def ensure_wheelhouse(requirements: list[str], house: Path | None = None) -> Path:
    """Download ``requirements`` (and their dependencies) as wheels once per machine.

    install.sh then installs offline from here (``--wheelhouse``); a stamp of the requirement
    list says whether the folder is complete, a lock keeps parallel runs from racing.
    """
    house = house or default_wheelhouse()
    house.mkdir(parents=True, exist_ok=True)
    stamp = hashlib.sha256("\n".join(requirements).encode()).hexdigest()
    with open(house / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = house / ".complete"
        if not (done.exists() and done.read_text() == stamp):
            subprocess.run([sys.executable, "-m", "pip", "download", "-q", "-d", str(house),
                            *requirements], check=True, timeout=900)
            done.write_text(stamp)
    return house


def bundle_wheel_requirements(bundle: Path) -> list[str]:
    """What install.sh installs for a bundle: its requirements.txt plus LiteRT."""
    import tarfile

    with tarfile.open(bundle) as tar:
        member = tar.extractfile("mnist-edge-bundle/requirements.txt")
        assert member is not None
        return [*member.read().decode().split(), "ai-edge-litert"]
