#!/bin/sh
# shellcheck disable=SC2015  # "a && b || die" is meant: die when either step fails
# The device side of `mnist-edge deploy`, sent over ssh on standard input and run as
#   sh -s -- ACTION REMOTE_DIR [ARGS...]
# Actions:
#   prepare DIR ID [NEED_MB]    make the folders, clear stale uploads, check free space, print
#                               the state
#   install DIR ID SHA256 ...   check the upload, unpack it to releases/ID, run its install.sh
#                               (which self-tests, then switches current); undo on failure
#   rollback DIR ...            make previous current again (and current previous), restart
#   status DIR                  print release, service state and last reading
# Output is KEY=value lines that deploy.py reads; errors are 'error: ...' lines, exit non-zero.
# Everything is inside main() so that sh has read the whole script before any command that
# could read standard input runs (main's input is /dev/null).
main() {
    set -eu
    action=${1:-}
    [ $# -ge 2 ] || die "usage: ACTION REMOTE_DIR [ARGS...]"
    dir=$(resolve_dir "$2")
    shift 2
    case $action in
        prepare) prepare "$@" ;;
        install) install_release "$@" ;;
        rollback) rollback "$@" ;;
        status) status ;;
        *) die "unknown action $action" ;;
    esac
}

die() { printf 'error: %s\n' "$*" >&2; exit 1; }

resolve_dir() {
    # shellcheck disable=SC2088  # a literal "~" sent by deploy, expanded here on the device
    case $1 in
        "~") d=$HOME ;;
        "~/"*) d=$HOME/${1#??} ;;
        /*) d=$1 ;;
        *) d=$HOME/$1 ;;
    esac
    case $d in *[!A-Za-z0-9._/+@,-]*) die "remote dir $d: use only letters, digits and ._/+@,-" ;; esac
    printf '%s' "${d%/}"
}

check_id() {
    case $1 in ''|*[!A-Za-z0-9._-]*|.*) die "bad release id $1" ;; esac
}

link() { l=$(readlink "$dir/$1" 2>/dev/null || true); printf '%s' "${l#releases/}"; }

free_mb() { df -Pk "$dir" 2>/dev/null | awk 'NR == 2 { print int($4 / 1024) }'; }

state() {
    echo "dir=$dir"
    echo "current=$(link current)"
    echo "previous=$(link previous)"
}

prepare() {
    id=$1
    check_id "$id"
    mkdir -p "$dir/releases" "$dir/incoming" "$dir/logs" || die "cannot create $dir"
    # Uploads that never finished (a dropped connection) are of no use to anyone.
    find "$dir/incoming" -type f -name '*.tar.gz' -mmin +60 -exec rm -f {} + 2>/dev/null || true
    [ ! -e "$dir/releases/$id" ] || die "release $id already exists in $dir/releases"
    command -v sha256sum >/dev/null 2>&1 || die "sha256sum not found on the device"
    free=$(free_mb)
    if [ -n "${2:-}" ] && [ -n "$free" ] && [ "$free" -lt "$2" ]; then
        die "only $free MB free in $dir; this bundle needs about $2 MB (free some space, or remove old releases)"
    fi
    state
}

install_release() {
    id=$1
    sha=$2
    shift 2
    check_id "$id"
    tarball=$dir/incoming/$id.tar.gz
    rel=$dir/releases/$id
    [ -f "$tarball" ] || die "upload $tarball not found"
    got=$(sha256sum "$tarball" | cut -d' ' -f1)
    if [ "$got" != "$sha" ]; then
        rm -f "$tarball"
        die "upload damaged: sha256 $got, expected $sha"
    fi
    mkdir "$rel" || die "could not create $rel"
    if ! tar -xzf "$tarball" -C "$rel" --strip-components=1; then
        rm -rf "$rel"
        die "could not unpack the bundle ($(free_mb) MB free in $dir)"
    fi
    rm -f "$tarball"
    log=$dir/logs/$id.log
    if sh "$rel/install.sh" --prefix "$dir" "$@" >"$log" 2>&1; then
        cat "$log"
    else
        rc=$?
        cat "$log" 2>/dev/null || true
        if ! grep -q '^error:' "$log"; then  # stopped by the shell (a full disk, a kill)
            last=$(grep -v '^[[:space:]]*$' "$log" | tail -n 1)
            printf 'error: install.sh stopped (exit %s) after: %s; %s MB free in %s\n' \
                "$rc" "${last:-nothing}" "$(free_mb)" "$dir" >&2
        fi
        case "releases/$id" in
            "$(readlink "$dir/current" 2>/dev/null)"|"$(readlink "$dir/previous" 2>/dev/null)") ;;
            *) rm -rf "$rel" ;;
        esac
        echo "log=$log"
        state
        exit "$rc"
    fi
    # shellcheck disable=SC2012
    ls -1t "$dir/logs" | tail -n +21 | while read -r old; do rm -f "$dir/logs/$old"; done
    echo "log=$log"
    state
}

switch_link() {
    ln -sfn "$2" "$dir/.$1.tmp.$$" && mv -T "$dir/.$1.tmp.$$" "$dir/$1" || die "could not switch $1"
}

rollback() {
    cur=$(readlink "$dir/current" 2>/dev/null || true)
    prev=$(readlink "$dir/previous" 2>/dev/null || true)
    [ -n "$prev" ] && [ -d "$dir/$prev" ] || die "no previous release to roll back to in $dir"
    switch_link current "$prev"
    [ -z "$cur" ] || switch_link previous "$cur"
    echo "rolled back to ${prev#releases/}"
    sh "$dir/current/install.sh" --prefix "$dir" --service-only "$@" || die "service restart failed"
    state
}

service_state() {
    name=$1
    mode=$(cat "$dir/service-mode" 2>/dev/null || echo none)
    case $mode in
        system) systemctl is-active "$name.service" 2>/dev/null || true ;;
        user) systemctl --user is-active "$name.service" 2>/dev/null || true ;;
        *) echo "not installed (no systemd)" ;;
    esac
}

last_reading() {
    serve=$1
    jsonl=$2
    if [ -n "$serve" ]; then
        port=${serve##*:}
        host=${serve%:*}
        case $host in ''|0.0.0.0|'[::]'|'*'|"$serve") host=127.0.0.1 ;; esac
        "$dir/current/bin/python" -c 'import sys, urllib.request
print(urllib.request.urlopen(sys.argv[1], timeout=2).read().decode().strip())' \
            "http://$host:$port/reading" 2>/dev/null && return 0
    fi
    if [ -n "$jsonl" ]; then
        case $jsonl in /*) ;; *) jsonl=$dir/$jsonl ;; esac
        [ -f "$jsonl" ] && tail -n 1 "$jsonl" && return 0
    fi
    echo ""
}

status() {
    state
    # shellcheck disable=SC2012
    echo "releases=$(ls -1 "$dir/releases" 2>/dev/null | tr '\n' ' ')"
    if [ ! -f "$dir/current/bundle.env" ]; then
        echo "service=not deployed"
        return 0
    fi
    SERVICE_NAME=mnist-edge SERVE="" JSONL=""
    # shellcheck disable=SC1091
    . "$dir/current/bundle.env"
    echo "service=$(service_state "$SERVICE_NAME")"
    echo "reading=$(last_reading "$SERVE" "$JSONL" | head -c 2000)"
}

main "$@" </dev/null
