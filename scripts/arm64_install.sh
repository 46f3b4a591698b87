#!/bin/sh
# Install an mnist-edge bundle in an arm64 (aarch64) Debian userland under qemu-user emulation:
# the Raspberry Pi's architecture, on an x86_64 machine. Not part of CI (it downloads a Debian
# base system and the aarch64 wheels, and emulation is slow: expect 10-30 minutes on 2 cores).
#
#   sudo sh scripts/arm64_install.sh BUNDLE.tar.gz [WORKDIR]
#
# Steps: apt-get install qemu-user-static debootstrap; register qemu-aarch64 with binfmt_misc
# (the F flag, so the chroot needs no copy of qemu); debootstrap bookworm/arm64 with python3 and
# python3-venv; unpack the bundle inside and run its install.sh there (venv, LiteRT or
# tflite-runtime for aarch64 from PyPI, self-test); then run the installed self-test again.
# Root only (chroot, binfmt). Leaves WORKDIR (default /tmp/mnist-edge-arm64) for inspection.
set -eu

bundle=${1:?usage: sh scripts/arm64_install.sh BUNDLE.tar.gz [WORKDIR]}
work=${2:-/tmp/mnist-edge-arm64}
root=$work/rootfs
[ "$(id -u)" = 0 ] || { echo "error: run as root (chroot, binfmt_misc)" >&2; exit 2; }
[ -f "$bundle" ] || { echo "error: no bundle at $bundle" >&2; exit 2; }
say() { printf '== %s\n' "$*"; }
mkdir -p "$work"

say "packages: qemu-user-static debootstrap"
if ! command -v debootstrap >/dev/null || [ ! -e /usr/libexec/qemu-binfmt/aarch64-binfmt-P ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user-static debootstrap >/dev/null
fi

say "binfmt_misc: qemu-aarch64"
[ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
    grep -v '^#' /usr/lib/binfmt.d/qemu-aarch64.conf > /proc/sys/fs/binfmt_misc/register
fi

if [ ! -x "$root/usr/bin/python3" ]; then
    say "debootstrap bookworm arm64 (minbase + python3-venv) into $root"
    debootstrap --arch=arm64 --variant=minbase \
        --include=python3,python3-venv,ca-certificates,coreutils,tar,gzip \
        bookworm "$root" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 \
        || { tail -n 20 "$work/debootstrap.log"; exit 1; }
fi
cp /etc/resolv.conf "$root/etc/resolv.conf"
# pip inside trusts what pip outside trusts (a proxy's own CA, where there is one)
cacert=${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}
cp "$cacert" "$root/etc/ssl/certs/host-ca.crt"
echo "arch in the chroot: $(chroot "$root" uname -m), $(chroot "$root" python3 -V)"

say "install.sh inside the arm64 userland"
rm -rf "$root/tmp/bundle"
mkdir -p "$root/tmp/bundle"
tar -xzf "$bundle" -C "$root/tmp/bundle"
mountpoint -q "$root/proc" || mount -t proc proc "$root/proc"
start=$(date +%s)
rc=0
chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/local/bin:/usr/bin:/bin \
    PIP_CERT=/etc/ssl/certs/host-ca.crt sh /tmp/bundle/mnist-edge-bundle/install.sh --prefix /opt/mnist-edge || rc=$?
echo "install.sh exit status $rc after $(( $(date +%s) - start )) s"
if [ "$rc" = 0 ]; then
    say "self-test again, as the service would run it"
    chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/bin:/bin \
        /opt/mnist-edge/current/bin/mnist-edge selftest --json || rc=$?
    chroot "$root" /opt/mnist-edge/venv/bin/python -m pip list --format=freeze 2>/dev/null \
        | grep -i -E "litert|tflite|numpy|opencv" || true
fi
umount "$root/proc" 2>/dev/null || true
exit "$rc"
