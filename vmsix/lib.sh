# Common settings of the qemu-vmsix scripts.  Sourced, not run.
# shellcheck shell=bash

VMSIX_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=vmsix/base.conf
. "$VMSIX_TOP/vmsix/base.conf"

# VMSIX_BASE picks another Debian qemu 10.0.x source version than the pin.
VMSIX_BASE=${VMSIX_BASE:-$VMSIX_PINNED_VERSION}
VMSIX_CACHE=${VMSIX_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/qemu-vmsix}
VMSIX_BUILD=${VMSIX_BUILD:-$VMSIX_TOP/_build}

# Directories of this repository whose files are new files of the QEMU tree.
VMSIX_OVERLAY_DIRS="accel configs docs hw include qapi tests/qtest tests/unit"

vmsix_die() { echo "vmsix: $*" >&2; exit 1; }
vmsix_info() { echo "vmsix: $*" >&2; }

# A file-system friendly form of a Debian version ("1:10.0.13+ds-0+deb13u1"
# becomes "10.0.13+ds-0+deb13u1").
vmsix_base_dir() {
    echo "$VMSIX_CACHE/base/${VMSIX_BASE#*:}"
}

vmsix_git() {
    git -c user.name="qemu-vmsix" -c user.email="qemu-vmsix@localhost" \
        -c advice.detachedHead=false -c core.autocrlf=false "$@"
}

# vmsix_mirror_uri: the Debian mirror that the machine's apt sources
# already use (never a host name written in a file), without a trailing
# slash; fails when there is none.
vmsix_mirror_uri() {
    local uri
    uri=$(grep -hE '^[[:space:]]*URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null |
          awk '{print $2}' | grep -E '/debian/?$' | head -n1 || true)
    if [ -z "$uri" ] && [ -r /etc/apt/sources.list ]; then
        uri=$(awk '$1 == "deb" && $0 ~ /bookworm/ {
                     for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' \
              /etc/apt/sources.list)
    fi
    [ -n "$uri" ] || return 1
    echo "${uri%/}"
}

# vmsix_apt_get_in DIR ARGS...: apt-get ARGS in DIR, with apt's exit status.
# As root, apt downloads unsandboxed and warns about it on every call; that
# line is dropped and the rest of its output goes to stderr.
vmsix_apt_get_in() {
    local dir=$1 out rc=0
    shift
    out=$(cd "$dir" && apt-get "$@" 2>&1) || rc=$?
    printf '%s\n' "$out" | grep -v -e 'unsandboxed as root' -e '^$' >&2 || true
    return "$rc"
}

# vmsix_progress WHAT LOG: copy ninja's output on stdin to LOG, and say
# on stderr each time another tenth of the steps is done.
vmsix_progress() {
    awk -v what="$1" -v out="$2" '
        { print > out }
        /^\[[0-9]+\/[0-9]+\] / {
            split(substr($1, 2), n, "/")
            if (n[2] < 100) {
                next
            }
            tenth = int(10 * n[1] / n[2])
            if (tenth > shown && tenth < 10) {
                shown = tenth
                printf "vmsix: %s: %d%% (%d of %d steps)\n", what, 10 * tenth, n[1], n[2] > "/dev/stderr"
                fflush("/dev/stderr")
            }
        }'
}

# Compile through ccache, whose cache lives beside the base cache.
vmsix_use_ccache() {
    export CCACHE_DIR=${CCACHE_DIR:-$VMSIX_CACHE/ccache}
    export CCACHE_BASEDIR="$VMSIX_BUILD"
    # Debug info records the build directory, which ccache would otherwise
    # hash: every clone or build directory would miss the cache.
    export CCACHE_NOHASHDIR=1
    # Debian's ccache links every installed compiler, cross ones included.
    case ":$PATH:" in
    *:/usr/lib/ccache:*) ;;
    *) export PATH="/usr/lib/ccache:$PATH" ;;
    esac
}

# The sanitizers' settings of the sanitize and fuzz tiers: any report
# ends the process with an error, leaks are looked for at exit (a QEMU
# that leaks fails its qtest: libqtest checks its exit status), and the
# leaks that upstream code has on stock too are suppressed by name in
# tests/sanitize/lsan.supp, which says why.
vmsix_sanitizer_env() {
    export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=1:print_summary=1:detect_stack_use_after_return=0"
    export UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1:print_summary=1"
    export LSAN_OPTIONS="suppressions=$VMSIX_TOP/tests/sanitize/lsan.supp:print_suppressions=0"
}
