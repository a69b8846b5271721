#!/usr/bin/env bash
# Install what qemu-vmsix needs on Debian 12, as root.  Safe to run again:
# it only adds apt sources and packages that are missing.
#
# usage: vmsix/deps.sh [native|cross|guest|sanitize|bench|all]...   (default: all)
#
# sanitize (clang and its sanitizer and libFuzzer runtimes, for the
# fork-asan build of the sanitize and fuzz tiers) is not in all: only
# those tiers need it.
set -euo pipefail

die() { echo "vmsix deps: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (it installs packages with apt-get)"
[ -r /etc/debian_version ] || die "needs Debian 12 (bookworm); /etc/debian_version is missing"
command -v apt-get >/dev/null || die "apt-get not found"

# The mirror is whatever the machine's apt sources already use; never
# hard-code a host name (vmsix_mirror_uri in lib.sh).
# shellcheck source=vmsix/lib.sh
. "$(dirname "$0")/lib.sh"
mirror_uri() {
    vmsix_mirror_uri ||
        die "cannot find the Debian mirror in /etc/apt/sources.list.d/ or /etc/apt/sources.list"
}

SOURCES=/etc/apt/sources.list.d/qemu-vmsix.sources
need_update=0

ensure_sources() {
    local uri want
    uri=$(mirror_uri)
    want="# Added by qemu-vmsix vmsix/deps.sh: meson from backports, QEMU source from trixie.
Types: deb
URIs: $uri
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: $uri
Suites: trixie trixie-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"
    if [ ! -f "$SOURCES" ] || [ "$(cat "$SOURCES")" != "$(printf '%s' "$want")" ]; then
        printf '%s' "$want" > "$SOURCES"
        need_update=1
    fi
    if ! dpkg --print-foreign-architectures | grep -qx arm64; then
        dpkg --add-architecture arm64
        need_update=1
    fi
    # Lists older than a day, or never fetched, are refreshed once.
    if [ $need_update = 1 ] || [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*bookworm-backports*Packages*' -mmin -1440 2>/dev/null)" ]; then
        apt-get update -qq || die "apt-get update failed; check the network access to the Debian mirror"
    fi
}

missing() {
    local p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"
    done
}

apt_install() {
    local todo
    todo=$(missing "$@")
    [ -z "$todo" ] && return 0
    echo "vmsix deps: installing $(echo $todo)"
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $todo >/dev/null ||
        die "apt-get install failed for: $(echo $todo)"
}

install_backports() {
    local todo
    todo=$(missing "$@")
    [ -z "$todo" ] && return 0
    echo "vmsix deps: installing from bookworm-backports: $(echo $todo)"
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        -t bookworm-backports $todo >/dev/null ||
        die "apt-get install -t bookworm-backports failed for: $(echo $todo)"
}

meson_ok() {
    command -v meson >/dev/null &&
        /usr/bin/python3 -c 'import sys, mesonbuild.coredata as c; v = tuple(int(x) for x in c.version.split(".")[:2]); sys.exit(v < (1, 5))' 2>/dev/null
}

native() {
    apt_install build-essential dpkg-dev git ccache pkg-config python3 python3-venv \
            ninja-build flex bison libglib2.0-dev libpixman-1-dev libfdt-dev zlib1g-dev \
            libslirp-dev perl ipxe-qemu qemu-efi-aarch64 xz-utils
    # virt-xml-validate for the checkpatch tier's libvirt-xml test; it
    # runs xmllint, which libvirt-clients does not depend on.
    apt_install libvirt-clients libxml2-utils
    meson_ok || install_backports meson
    install_backports python3-pycotap
    meson_ok || die "meson >= 1.5 is needed; bookworm-backports did not provide it"
}

cross() {
    apt_install gcc-aarch64-linux-gnu libc6-dev-arm64-cross binutils-aarch64-linux-gnu file \
            libglib2.0-dev:arm64 libpixman-1-dev:arm64 zlib1g-dev:arm64 libpcre2-dev:arm64
    cross_libfdt
}

# libfdt-dev is not Multi-Arch on bookworm: the arm64 package would remove
# the amd64 one.  Its headers are the same, so take only its libfdt.a and
# put it where meson's find_library looks for the cross compiler.
cross_libfdt() {
    local lib=/usr/lib/aarch64-linux-gnu/libfdt.a tmp
    [ -f "$lib" ] && return 0
    echo "vmsix deps: adding $lib from libfdt-dev:arm64"
    tmp=$(mktemp -d)
    (cd "$tmp" && apt-get download -qq libfdt-dev:arm64 2>/dev/null) ||
        { rm -rf "$tmp"; die "apt-get download libfdt-dev:arm64 failed"; }
    dpkg-deb -x "$tmp"/libfdt-dev_*_arm64.deb "$tmp/x"
    install -m 0644 "$tmp/x$lib" "$lib"
    rm -rf "$tmp"
}

# The fork-asan build: clang, and compiler-rt's ASan, UBSan, LSan and
# libFuzzer runtimes, which Debian ships apart from the compiler
sanitize() {
    apt_install clang libclang-rt-dev
}

# Guest images: arm64 packages are downloaded and unpacked, never
# installed, so only the tools that build the images are needed here.
guest() {
    apt_install cpio kmod file binutils-aarch64-linux-gnu
}

# ./qemu-vmsix bench's plots (its --quick run is in the default tier)
bench() {
    apt_install gnuplot-nox
}

ensure_sources
[ $# = 0 ] && set -- all
for what in "$@"; do
    case "$what" in
    native) native ;;
    cross) cross ;;
    guest) guest ;;
    sanitize) sanitize ;;
    bench) bench ;;
    all) native; cross; guest; bench ;;
    *) die "unknown component '$what' (native, cross, guest, sanitize, bench, all)" ;;
    esac
done
