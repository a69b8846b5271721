#!/usr/bin/env bash
# Fetch and cache the arm64 guest pieces from the Debian mirror: a kernel
# (with its modules, given a modules.dep) and busybox.  The packages are
# unpacked, never installed.
#
# usage: vmsix/guest-assets.sh     prints KERNEL-IMAGE MODULES-DIR BUSYBOX
#   VMSIX_GUEST_KERNEL=<package>   another linux-image-*-arm64 package
set -euo pipefail
. "$(dirname "$0")/lib.sh"

dir="$VMSIX_CACHE/arm64"
mkdir -p "$dir/debs"

# resolve META -> the versioned package it depends on
resolve() {
    apt-cache depends "$1:arm64" 2>/dev/null |
        awk '/Depends: linux-image-/ { sub(/:arm64$/, "", $2); print $2; exit }'
}

fetch() {       # fetch PACKAGE -> path of the unpacked tree
    local pkg=$1 out="$dir/$1"
    if [ ! -f "$out/.vmsix-ready" ]; then
        rm -rf "$out" "$dir/debs/$pkg"
        mkdir -p "$dir/debs/$pkg"
        (cd "$dir/debs/$pkg" && apt-get download -qq "$pkg:arm64" 2>&1 |
            grep -v 'unsandboxed as root' >&2) || true
        local deb
        deb=$(ls "$dir/debs/$pkg"/*.deb 2>/dev/null | head -n1)
        [ -n "$deb" ] ||
            vmsix_die "$pkg:arm64 is not on the mirror (apt-cache policy $pkg:arm64); run apt-get update, or pick another with VMSIX_GUEST_KERNEL"
        dpkg-deb -x "$deb" "$out"
        touch "$out/.vmsix-ready"
    fi
    echo "$out"
}

kpkg=${VMSIX_GUEST_KERNEL:-}
if [ -z "$kpkg" ]; then
    # Reuse what is cached, so that a run after the first is offline.
    kpkg=$(cat "$dir/kernel-package" 2>/dev/null || true)
    if [ -z "$kpkg" ]; then
        kpkg=$(resolve linux-image-arm64)
        [ -n "$kpkg" ] ||
            vmsix_die "cannot resolve linux-image-arm64:arm64 on the mirror: run vmsix/deps.sh (it adds arm64 and updates apt)"
    fi
fi
kernel=$(fetch "$kpkg")
echo "$kpkg" > "$dir/kernel-package"
busybox=$(fetch busybox-static)

kver=$(ls "$kernel/lib/modules" | head -n1)
[ -f "$kernel/lib/modules/$kver/modules.dep" ] ||
    depmod -b "$kernel" "$kver" || vmsix_die "depmod -b $kernel $kver failed"
echo "$kernel/boot/vmlinuz-$kver" "$kernel/lib/modules/$kver" "$busybox/bin/busybox"
