#!/bin/sh
# shellcheck disable=SC2015  # "a && b || die" is meant: die when either step fails
# install.sh - install this mnist-edge bundle on the device (Raspberry Pi OS or any Linux).
#
#   sh install.sh [--prefix DIR] [options]
#
# Steps, each safe to repeat (running the script twice is harmless):
#   1. verify every file against SHA256SUMS (a damaged bundle stops here);
#   2. check Python >= 3.10 and create or reuse the venv of this dependency set
#      (<venvs>/<key>, key = requirements.txt + runtime + Python version): a new set gets a new
#      venv, built under a temporary name and renamed only once complete, so a failed install,
#      a failed self-test or a rollback never changes what another release runs; a model-only
#      update reuses its venv and takes seconds;
#   3. install this release's wheel into <prefix>/releases/<id>/lib (--no-deps; the device
#      dependencies, with opencv *headless* and LiteRT or tflite-runtime, go into the venv);
#   4. self-test: read the bundle's sample digits with the bundled model; all must match;
#   5. only then switch <prefix>/current to this release atomically (the old one becomes
#      <prefix>/previous) and install/restart the systemd service where systemd runs.
#
# Options:
#   --prefix DIR      deploy folder (default ~/mnist-edge)
#   --venv DIR        the folder of venvs, one per dependency set (default <prefix>/venvs;
#                     venvs no release uses any more are pruned only from the default)
#   --python PY       interpreter for the venv (default python3)
#   --wheelhouse DIR  install dependencies offline from this folder of wheels (pip --no-index)
#   --runtime R       auto (default: LiteRT, else tflite-runtime), litert or tflite-runtime
#   --no-activate     install and self-test only; leave current as it is
#   --no-service      do not touch the systemd service
#   --service-only    only (re)install and restart the service of this release (rollback)
#   --print-unit      print the systemd unit this would install, and exit
#   --reinstall       reinstall dependencies and the wheel even if they look up to date
#   --keep N          keep the N newest releases (default 3); current, previous and this one
#                     are never removed, whatever their age
#
# Exit status: 0 ok, 2 usage, 3 bundle damaged, 4 Python/venv/dependencies, 5 self-test
# failed, 6 switch or service failed.
set -eu

say() { printf 'install: %s\n' "$*"; }
die() { printf 'error: %s\n' "$1" >&2; exit "${2:-1}"; }
need() { [ "$2" -ge 2 ] || die "$1 needs a value" 2; }
usage() { sed -n '3,/^set -eu/s/^# \{0,1\}//p' "$0"; }

here=$(cd "$(dirname "$0")" && pwd -P)
prefix=${HOME:-/root}/mnist-edge
venv=""
python=python3
wheelhouse=""
runtime=auto
activate=1
service=1
service_only=0
print_unit=0
reinstall=0
keep=3

while [ $# -gt 0 ]; do
    case $1 in
        --prefix) need "$1" $#; prefix=$2; shift 2 ;;
        --venv) need "$1" $#; venv=$2; shift 2 ;;
        --python) need "$1" $#; python=$2; shift 2 ;;
        --wheelhouse) need "$1" $#; wheelhouse=$2; shift 2 ;;
        --runtime) need "$1" $#; runtime=$2; shift 2 ;;
        --keep) need "$1" $#; keep=$2; shift 2 ;;
        --no-activate) activate=0; shift ;;
        --no-service) service=0; shift ;;
        --service-only) service_only=1; shift ;;
        --print-unit) print_unit=1; shift ;;
        --reinstall) reinstall=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown option: $1 (see: sh install.sh --help)" 2 ;;
    esac
done

case $runtime in auto|litert|tflite-runtime) ;; *) die "--runtime must be auto, litert or tflite-runtime" 2 ;; esac
case $keep in ''|*[!0-9]*) die "--keep needs a number" 2 ;; esac
[ -f "$here/bundle.env" ] || die "$here is not an mnist-edge bundle (no bundle.env)" 3
# shellcheck disable=SC1091
. "$here/bundle.env"

safe_path() {
    case $1 in /*) ;; *) return 1 ;; esac
    case $1 in *[!A-Za-z0-9._/+@,-]*) return 1 ;; esac
    return 0
}

absolute() {
    case $1 in /*) printf '%s' "$1" ;; *) printf '%s/%s' "$(pwd -P)" "$1" ;; esac
}

prefix=$(absolute "$prefix")
mkdir -p "$prefix" || die "cannot create $prefix" 6
prefix=$(cd "$prefix" && pwd -P)
safe_path "$prefix" || die "deploy folder $prefix: use only letters, digits and ._/+@,-" 2
[ -n "$venv" ] || venv=$prefix/venvs
venvs=$(absolute "$venv")
safe_path "$venvs" || die "venv folder $venvs: use only letters, digits and ._/+@,-" 2
venv_tmp=""

# ---------------------------------------------------------------------------------- 1. verify
verify() {
    command -v sha256sum >/dev/null 2>&1 || die "sha256sum not found (install coreutils)" 3
    [ -f "$here/SHA256SUMS" ] || die "bundle damaged: SHA256SUMS missing" 3
    if ! out=$(cd "$here" && sha256sum -c SHA256SUMS 2>&1); then
        bad=$(printf '%s\n' "$out" | grep -v ': OK$' | head -n 5 | tr '\n' ' ')
        die "bundle damaged, checksum mismatch: $bad" 3
    fi
    say "manifest verified: $(wc -l < "$here/SHA256SUMS" | tr -d ' ') files match SHA256SUMS"
}

# ------------------------------------------------------------------------ 2. python and venv
check_python() {
    command -v "$python" >/dev/null 2>&1 \
        || die "$python not found: install Python 3.10 or newer (sudo apt install python3 python3-venv)" 4
    "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
        || die "Python 3.10 or newer needed; $python is $("$python" -V 2>&1)" 4
}

deps_key() {
    { cat "$here/requirements.txt"; echo "runtime=$runtime"; "$python" -c 'import sys; print(sys.version)'; } \
        | sha256sum | cut -c1-16
}

pip_install() {
    if [ -n "$wheelhouse" ]; then
        "$vpy" -m pip install -q --disable-pip-version-check --no-index --find-links "$wheelhouse" "$@"
    else
        "$vpy" -m pip install -q --disable-pip-version-check "$@"
    fi
}

install_deps() {
    if [ "$runtime" != tflite-runtime ] && pip_install -r "$here/requirements.txt" ai-edge-litert; then
        echo litert > "$venv/.mnist-edge-runtime"
        return 0
    fi
    [ "$runtime" = litert ] && die "could not install ai-edge-litert (LiteRT) for this platform" 4
    [ "$runtime" = auto ] && say "could not install LiteRT (no wheel for this platform, or no network); trying tflite-runtime with numpy<2"
    pip_install -r "$here/requirements.txt" "numpy<2" tflite-runtime \
        || die "could not install the device dependencies (requirements.txt + tflite-runtime)" 4
    echo tflite-runtime > "$venv/.mnist-edge-runtime"
}

provision() {
    final=$venvs/$key
    if [ "$reinstall" = 0 ] && [ -x "$final/bin/python" ] \
            && [ "$(cat "$final/.mnist-edge-deps" 2>/dev/null)" = "$key" ]; then
        say "venv $final: dependencies up to date ($(cat "$final/.mnist-edge-runtime"))"
        return 0
    fi
    # Built under a temporary name: the venv of another release is never touched, and a
    # failure leaves nothing under the key.
    venv_tmp=$venvs/.$key.tmp.$$
    venv=$venv_tmp
    vpy=$venv/bin/python
    rm -rf "$venv_tmp"
    say "creating venv $final for this dependency set"
    "$python" -m venv "$venv_tmp" >/dev/null \
        || die "could not create a venv with $python (Debian/Raspberry Pi OS: sudo apt install python3-venv)" 4
    say "installing device dependencies into $final${wheelhouse:+ from $wheelhouse}"
    install_deps
    printf '%s\n' "$key" > "$venv_tmp/.mnist-edge-deps"
    if [ -d "$final" ]; then  # --reinstall: swap, then drop the old copy
        mv "$final" "$venvs/.$key.old.$$" && mv "$venv_tmp" "$final" \
            && rm -rf "$venvs/.$key.old.$$" || die "could not replace $final" 4
    else
        mv "$venv_tmp" "$final" || die "could not move the new venv to $final" 4
    fi
    venv_tmp=""
    say "venv $final: dependencies installed ($(cat "$final/.mnist-edge-runtime"))"
}

provision_locked() {
    mkdir -p "$venvs" || die "cannot create $venvs" 4
    key=$(deps_key)
    venv_tmp=$venvs/.$key.tmp.$$  # removed on exit if a failure left it (also from the subshell)
    if command -v flock >/dev/null 2>&1; then
        # Two installs sharing one venv folder (two deploy folders, one device) take turns here.
        ( flock 9 && provision ) 9>"$venvs/.lock" || exit $?
    else
        provision
    fi
    venv=$venvs/$key
    vpy=$venv/bin/python
}

# ------------------------------------------------------------------------- 3. this release
place_release() {
    safe_path "$prefix/releases/$BUNDLE_ID" || die "bundle id $BUNDLE_ID is not a safe name" 3
    if [ "$(dirname "$here")" = "$prefix/releases" ]; then
        rel=$here            # deploy unpacked us in place
    else
        rel=$prefix/releases/$BUNDLE_ID
        if [ -d "$rel" ]; then
            cmp -s "$rel/SHA256SUMS" "$here/SHA256SUMS" \
                || die "$rel exists with other contents; remove it or use another --prefix" 6
        else
            mkdir -p "$prefix/releases"
            rm -rf "$rel.tmp.$$"
            cp -R "$here" "$rel.tmp.$$" && mv "$rel.tmp.$$" "$rel" || die "could not copy the bundle to $rel" 6
            copied=1
        fi
    fi
    id=$(basename "$rel")
}

install_lib() {
    wheel_sha=$(sha256sum "$rel/$WHEEL" | cut -d' ' -f1)
    if [ "$reinstall" = 0 ] && [ "$(cat "$rel/lib/.wheel-sha256" 2>/dev/null)" = "$wheel_sha" ]; then
        say "code: already installed in $rel/lib"
        return 0
    fi
    rm -rf "$rel/lib.tmp"
    if [ "$reinstall" = 0 ] && [ "$(cat "$prefix/current/lib/.wheel-sha256" 2>/dev/null)" = "$wheel_sha" ]; then
        cp -R "$prefix/current/lib" "$rel/lib.tmp"
        say "code: same wheel as the current release, reused"
    else
        pip_install --no-deps --target "$rel/lib.tmp" "$rel/$WHEEL" >/dev/null \
            || die "could not install $WHEEL" 4
        say "code: installed $(basename "$WHEEL")"
    fi
    printf '%s\n' "$wheel_sha" > "$rel/lib.tmp/.wheel-sha256"
    rm -rf "${rel:?}/lib"
    mv "$rel/lib.tmp" "$rel/lib"
}

write_wrapper() {
    mkdir -p "$rel/bin"
    cat > "$rel/bin/mnist-edge.tmp" <<EOF
#!/bin/sh
# mnist-edge of one release: its own code (lib/) and model, and the venv it was tested with.
release=\$(cd "\$(dirname "\$0")/.." && pwd -P)
PYTHONPATH="\$release/lib\${PYTHONPATH:+:\$PYTHONPATH}"
MNIST_EDGE_MODEL="\${MNIST_EDGE_MODEL:-\$release/$MODEL}"
MNIST_EDGE_RELEASE="\$release"
export PYTHONPATH MNIST_EDGE_MODEL MNIST_EDGE_RELEASE
exec "$vpy" -m mnist_edge "\$@"
EOF
    chmod 755 "$rel/bin/mnist-edge.tmp"
    mv "$rel/bin/mnist-edge.tmp" "$rel/bin/mnist-edge"
    ln -sfn "$vpy" "$rel/bin/python"
}

# ------------------------------------------------------------------------------ 4. self-test
selftest() {
    if out=$("$rel/bin/mnist-edge" selftest "$rel" 2>&1); then
        printf '%s\n' "$out"
    else
        printf '%s\n' "$out"
        die "self-test failed: release $id not activated" 5
    fi
}

# ------------------------------------------------------------------------- 5. switch, service
switch_link() {
    ln -sfn "$2" "$prefix/.$1.tmp.$$" && mv -T "$prefix/.$1.tmp.$$" "$prefix/$1" \
        || die "could not switch $prefix/$1" 6
}

activate_release() {
    old=$(readlink "$prefix/current" 2>/dev/null || true)
    new=releases/$id
    if [ "$old" = "$new" ]; then
        say "current: already $id"
        return 0
    fi
    switch_link current "$new"
    [ -z "$old" ] || switch_link previous "$old"
    say "current: $id (previous: ${old#releases/})"
}

systemd_running() {
    command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]
}

unit_mode() {
    # A system unit as root or with passwordless sudo (Raspberry Pi OS default), else a user unit.
    unit=$SERVICE_NAME.service
    if [ "$(id -u)" = 0 ]; then mode=system; sudo=""
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then mode=system; sudo="sudo -n"
    else mode=user; sudo=""
    fi
    if [ "$mode" = system ]; then
        userline="User=$(id -un)"; wanted=multi-user.target; dest=/etc/systemd/system/$unit; ctl="$sudo systemctl"
    else
        userline=""; wanted=default.target; dest=$HOME/.config/systemd/user/$unit; ctl="systemctl --user"
    fi
}

render_unit() {
    sed -e "s|@PREFIX@|$prefix|g" -e "s|@USER@|$userline|" -e "s|@WANTED_BY@|$wanted|" \
        "$here/mnist-edge.service"
}

install_service() {
    if [ "$service" = 0 ]; then say "service: skipped (--no-service)"; return 0; fi
    if ! systemd_running; then
        echo none > "$prefix/service-mode"
        cmd=$(sed -n 's|^ExecStart=||p' "$here/mnist-edge.service" | sed "s|@PREFIX@|$prefix|g")
        say "service: skipped (systemd is not running here); run the reader by hand: cd $prefix && $cmd"
        return 0
    fi
    unit_mode
    [ "$mode" = system ] || mkdir -p "$(dirname "$dest")"
    render_unit > "$prefix/.$unit.tmp"
    if ! cmp -s "$prefix/.$unit.tmp" "$dest" 2>/dev/null; then
        $sudo install -m 644 "$prefix/.$unit.tmp" "$dest" || die "could not install $dest" 6
        $ctl daemon-reload || die "systemctl daemon-reload failed" 6
    fi
    rm -f "$prefix/.$unit.tmp"
    $ctl enable "$unit" >/dev/null 2>&1 || say "note: could not enable $unit at boot"
    $ctl restart "$unit" || die "could not restart $unit (see: journalctl -u $unit)" 6
    [ "$mode" = user ] && { loginctl enable-linger "$(id -un)" 2>/dev/null \
        || say "note: run 'sudo loginctl enable-linger $(id -un)' so the service runs without a login"; }
    echo "$mode" > "$prefix/service-mode"
    say "service: $unit restarted ($mode unit, $($ctl is-active "$unit" 2>/dev/null || true))"
}

prune() {
    cur=$(readlink "$prefix/current" 2>/dev/null || true)
    prev=$(readlink "$prefix/previous" 2>/dev/null || true)
    # shellcheck disable=SC2012
    ls -1t "$prefix/releases" | tail -n +"$((keep + 1))" | while read -r old; do
        case "releases/$old" in "$cur"|"$prev"|"releases/$id") continue ;; esac
        rm -rf "${prefix:?}/releases/$old"
    done
    # Venvs that no release left here runs on (only in the default folder: a --venv folder may
    # be shared with other deploy folders).
    [ "$venvs" = "$prefix/venvs" ] || return 0
    used=$(for link in "$prefix"/releases/*/bin/python; do readlink "$link" 2>/dev/null; done)
    for dir in "$venvs"/*/; do
        dir=${dir%/}
        [ -d "$dir" ] || continue
        printf '%s\n' "$used" | grep -qxF "$dir/bin/python" || rm -rf "$dir"
    done
}

# -------------------------------------------------------------------------------------- main
if [ "$print_unit" = 1 ]; then
    unit_mode
    render_unit
    exit 0
fi
if [ "$service_only" = 1 ]; then
    install_service
    exit 0
fi
copied=0
cleanup() {
    # A release that failed before activation is removed again, if this run copied it there.
    rc=$?
    [ -z "$venv_tmp" ] || rm -rf "$venv_tmp"
    if [ "$rc" != 0 ] && [ "$copied" = 1 ] && [ "$(readlink "$prefix/current" 2>/dev/null)" != "releases/$id" ]; then
        rm -rf "$rel"
    fi
}
trap cleanup EXIT
verify
check_python
provision_locked
place_release
install_lib
write_wrapper
selftest
if [ "$activate" = 0 ]; then
    say "installed $id (not activated: --no-activate)"
    exit 0
fi
activate_release
install_service
prune
say "done: $id is current in $prefix"
