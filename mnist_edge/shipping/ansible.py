"""``mnist-edge bundle --ansible DIR``: a playbook that rolls a bundle out to a fleet.

``mnist-edge deploy`` is the one-command path for a few Pis. A fleet usually has its own
inventory, groups, vaulted variables and rolling-update habits in Ansible; this writes::

    DIR/playbook.yml            the rollout (serial batches, stop on the first failed batch)
    DIR/inventory.example.ini   hosts in the [mnist_edge] group, with the per-host variables
    DIR/ansible.cfg             forks, the inventory, pipelining
    DIR/files/<bundle>.tar.gz   the bundle (the same file to every host)
    DIR/files/remote.sh         the device-side steps ``deploy`` runs (prepare, install, status)

Per host the playbook does what ``deploy`` does: read the current release; when it is not this
bundle, prepare the folders, upload the bundle, check its sha256, unpack it and run its
``install.sh`` (self-test, atomic switch, service restart; a failure leaves the previous
release current and running). ``serial`` (default 2) updates that many hosts at a time and
``max_fail_percentage: 0`` stops the rollout after a batch with a failure, so a bad bundle
reaches at most one batch. ``--check`` shows what would change and changes nothing.
"""

from __future__ import annotations

import os
import shutil
from importlib import resources
from pathlib import Path
from typing import Any

from mnist_edge.common import atomic
from mnist_edge.common.errors import UserError

INVENTORY = """\
# Copy to inventory.ini and list your Pis in the mnist_edge group (Ansible's own inventory:
# groups, host_vars/, group_vars/, vaulted variables all work).
[mnist_edge]
kitchen-pi   ansible_host=192.168.1.21 ansible_user=pi
garage-pi    ansible_host=192.168.1.22 ansible_user=pi
# meter-3    ansible_host=10.0.0.7 ansible_port=2222 ansible_user=pi

[mnist_edge:vars]
# mnist_edge_dir=~/mnist-edge
# mnist_edge_install_args=--wheelhouse /home/pi/wheels
# mnist_edge_serial=2
"""

CFG = """\
[defaults]
inventory = inventory.ini
forks = {forks}
retry_files_enabled = false
interpreter_python = auto_silent

[ssh_connection]
pipelining = true
"""


def _template(name: str) -> str:
    return resources.files("mnist_edge.shipping").joinpath("files", name).read_text("utf-8")


def write_ansible(out_dir: str | os.PathLike[str], bundle: Path, manifest: dict[str, Any],
                  bundle_sha256: str, *, serial: int = 2, forks: int = 10,
                  remote_dir: str = "~/mnist-edge", install_args: str = "") -> list[Path]:
    """Write the playbook, inventory example, ansible.cfg and files/ into ``out_dir``."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UserError(f"--ansible {out}: exists and is not a folder")
    if serial < 1 or forks < 1:
        raise UserError("serial and forks must be at least 1")
    for what, value in (("remote dir", remote_dir), ("install args", install_args)):
        if any(c in value for c in "'\"\n{}%$`\\;|&<>"):
            raise UserError(f"{what} {value!r}: quotes, braces and shell characters are not "
                            "allowed")
    files = out / "files"
    files.mkdir(parents=True, exist_ok=True)
    for old in files.glob("*.tar.gz"):
        if old.name != bundle.name:
            old.unlink()
    atomic.write_with(files / bundle.name, lambda tmp: shutil.copyfile(bundle, tmp))
    atomic.write_text(files / "remote.sh", _template("remote.sh"))
    playbook = _template("ansible-playbook.yml")
    for key, value in (("BUNDLE_ID", manifest["id"]), ("BUNDLE_NAME", bundle.name),
                       ("BUNDLE_SHA256", bundle_sha256), ("SERIAL", str(serial)),
                       ("REMOTE_DIR", remote_dir), ("INSTALL_ARGS", install_args)):
        playbook = playbook.replace(f"@{key}@", value)
    written = [atomic.write_text(out / "playbook.yml", playbook),
               atomic.write_text(out / "inventory.example.ini", INVENTORY),
               atomic.write_text(out / "ansible.cfg", CFG.format(forks=forks))]
    return written + [files / bundle.name, files / "remote.sh"]
