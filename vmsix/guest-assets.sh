#!/usr/bin/env bash
# Fetch and cache the arm64 guest pieces from the Debian mirror: a kernel
# (with its modules, given a modules.dep), busybox, and any other arm64
# package.  The packages are unpacked, never installed.
#
# usage: vmsix/guest-assets.sh            prints KERNEL-IMAGE MODULES-DIR BUSYBOX
#        vmsix/guest-assets.sh package PKG...
#                                         prints the unpacked tree of each arm64
#                                         PKG, one a line
#   VMSIX_GUEST_KERNEL=<package>   another linux-image-*-arm64 package
#   VMSIX_GUEST_SUITE=<suite>      the kernel of linux-image-arm64 in that
#                                  suite (e.g. bookworm-backports), in its
#                                  -unsigned flavour when there is one
#
# The resolved kernel package is remembered (per suite), so that a run after
# the first needs no network.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

dir="$VMSIX_CACHE/arm64"
mkdir -p "$dir/debs"

# The version of package $1:arm64 that suite $2 has, or nothing.
suite_version() {
    apt-cache madison "$1:arm64" 2>/dev/null |
        awk -F'|' -v s=" $2/" 'index($3, s) { gsub(/ /, "", $2); print $2; exit }'
}

# resolve META [SUITE] -> the versioned kernel package META depends on
resolve() {
    local meta=$1 suite=${2:-} spec=$1:arm64 pkg ver
    if [ -n "$suite" ]; then
        ver=$(suite_version "$meta" "$suite")
        [ -n "$ver" ] || return 0
        spec="$meta:arm64=$ver"
    fi
    pkg=$(apt-cache depends "$spec" 2>/dev/null |
          awk '/Depends: linux-image-/ { sub(/:arm64$/, "", $2); print $2; exit }')
    [ -n "$pkg" ] || return 0
    # Prefer the unsigned image: same kernel, without the EFI signature.
    if [ -n "$suite" ] && apt-cache show "$pkg-unsigned:arm64" >/dev/null 2>&1; then
        pkg="$pkg-unsigned"
    fi
    echo "$pkg"
}

fetch() {       # fetch PACKAGE -> path of the unpacked tree
    local pkg=$1 out="$dir/$1"
    if [ ! -f "$out/.vmsix-ready" ]; then
        rm -rf "$out" "$dir/debs/$pkg"
        mkdir -p "$dir/debs/$pkg"
        # A failed download is reported below, by the .deb it did not leave.
        vmsix_apt_get_in "$dir/debs/$pkg" download -qq "$pkg:arm64" || true
        local debs=("$dir/debs/$pkg"/*.deb)
        local deb=${debs[0]}
        [ -f "$deb" ] ||
            vmsix_die "$pkg:arm64 is not on the mirror (apt-cache policy $pkg:arm64); run apt-get update, or pick another with VMSIX_GUEST_KERNEL"
        dpkg-deb -x "$deb" "$out"
        touch "$out/.vmsix-ready"
    fi
    echo "$out"
}

if [ "${1:-}" = package ]; then
    shift
    [ $# -gt 0 ] || vmsix_die "usage: vmsix/guest-assets.sh package PKG..."
    for p in "$@"; do
        fetch "$p"
    done
    exit 0
fi

suite=${VMSIX_GUEST_SUITE:-}
record="$dir/kernel-package${suite:+-$suite}"
kpkg=${VMSIX_GUEST_KERNEL:-}
if [ -z "$kpkg" ]; then
    # Reuse what is cached, so that a run after the first is offline.
    kpkg=$(cat "$record" 2>/dev/null || true)
    if [ -z "$kpkg" ]; then
        kpkg=$(resolve linux-image-arm64 "$suite")
        [ -n "$kpkg" ] ||
            vmsix_die "cannot resolve linux-image-arm64:arm64${suite:+ in $suite} on the mirror: run vmsix/deps.sh (it adds arm64, bookworm-backports and updates apt)"
    fi
fi
kernel=$(fetch "$kpkg")
echo "$kpkg" > "$record"
busybox=$(fetch busybox-static)

kver=$(ls "$kernel/lib/modules" | head -n1)
[ -f "$kernel/lib/modules/$kver/modules.dep" ] ||
    depmod -b "$kernel" "$kver" || vmsix_die "depmod -b $kernel $kver failed"
echo "$kernel/boot/vmlinuz-$kver" "$kernel/lib/modules/$kver" "$busybox/bin/busybox"
