#!/usr/bin/env bash
# Fetch and cache the arm64 guest pieces from the Debian mirror: a kernel
# (with its modules, given a modules.dep), busybox, and any other arm64
# package.  The packages are unpacked, never installed.
#
# usage: vmsix/guest-assets.sh            prints KERNEL-IMAGE MODULES-DIR BUSYBOX
#        vmsix/guest-assets.sh package PKG...
#                                         prints the unpacked tree of each arm64
#                                         PKG, one a line
#        vmsix/guest-assets.sh debian-qemu VERSION
#                                         Debian's arm64 qemu-system-arm VERSION
#                                         (trixie's or trixie-backports') and
#                                         the shared libraries it needs: prints
#                                         SRC=DEST lines for vmsix/initramfs.sh
#                                         (/bin/qemu-system-aarch64, the
#                                         libraries in /lib/aarch64-linux-gnu,
#                                         the loader)
#        vmsix/guest-assets.sh debian-libvirt
#                                         trixie's arm64 libvirt: libvirtd, its
#                                         QEMU driver, virsh, the shared
#                                         libraries they need and libvirt's CPU
#                                         map, as SRC=DEST lines likewise
#   VMSIX_GUEST_KERNEL=<package>   another linux-image-*-arm64 package (of
#                                  VMSIX_GUEST_SUITE's apt, see below)
#   VMSIX_GUEST_SUITE=<suite>      the kernel of linux-image-arm64 in that
#                                  suite, in its -unsigned flavour when there
#                                  is one: bookworm-backports (6.12, what the
#                                  nested harness uses unless told), empty
#                                  for bookworm (6.1), trixie (6.12) or
#                                  trixie-backports (7.x)
#
# Debian's kernel packages come in two layouts: up to 6.12 the image
# package holds boot/vmlinuz-VERSION and lib/modules/VERSION; from 7.x
# linux-image-VERSION only depends on linux-binary-VERSION (the image, at
# usr/lib/modules/VERSION/vmlinuz) and linux-modules-VERSION (the modules,
# merged-/usr: usr/lib/modules/VERSION), and linux-base-VERSION holds
# modules.builtin.  They are unpacked into one tree.
#
# The resolved kernel package is remembered (per suite), so that a run after
# the first needs no network.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

dir="$VMSIX_CACHE/arm64"
mkdir -p "$dir/debs"

# apt's options: none for the host's own apt, which has bookworm and
# bookworm-backports for arm64 (vmsix/deps.sh).  Trixie's suites go
# through a private apt configuration instead (private_apt below).
apt_opts=()

# private_apt SUITE...: use an apt of our own for arm64 packages of
# SUITEs, under $VMSIX_CACHE/arm64/apt: its own sources list (the mirror
# of the machine's apt sources), package lists, cache and an empty dpkg
# status, with arm64 as its only architecture.
#
# Why not trixie's binary sources in the host's apt, pinned low: the host
# is bookworm amd64 with arm64 foreign packages (libc6:arm64 and more, for
# the cross builds).  With trixie in its sources, one "apt-get -t trixie",
# a pin file that goes missing or an "apt upgrade" on a machine whose pins
# someone changed pulls trixie's libc6 into bookworm and breaks it, and
# every "apt-get update" of the host fetches trixie's indexes for both
# architectures.  A private configuration cannot touch the host's
# packages, fetches only the arm64 index of the suites asked for, and is
# reset by removing the cache.
private_apt() {
    local key root uri s
    key=$(IFS=+; echo "$*")
    root="$dir/apt/$key"
    mkdir -p "$root/lists/partial" "$root/archives/partial" "$root/parts" "$root/cache"
    [ -f "$root/status" ] || : > "$root/status"
    uri=$(vmsix_mirror_uri) ||
        vmsix_die "cannot find the Debian mirror in /etc/apt/sources.list.d/ or /etc/apt/sources.list"
    : > "$root/sources.list.tmp"
    for s in "$@"; do
        echo "deb [arch=arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri $s main" \
            >> "$root/sources.list.tmp"
    done
    mv "$root/sources.list.tmp" "$root/sources.list"
    apt_opts=(
        -o "Dir::Etc::SourceList=$root/sources.list"
        -o "Dir::Etc::SourceParts=$root/parts"
        -o "Dir::Etc::Preferences=$root/preferences"
        -o "Dir::Etc::PreferencesParts=$root/parts"
        -o "Dir::State::Lists=$root/lists"
        -o "Dir::State::status=$root/status"
        -o "Dir::Cache=$root/cache"
        -o "Dir::Cache::Archives=$root/archives"
        -o APT::Architecture=arm64
        -o APT::Architectures::=arm64
        -o Acquire::Languages=none
        -o Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false
        -o Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false
    )
    private_root=$root
    # The lists are fetched once; a package that has gone from them
    # fetches them again (private_update).
    if ! compgen -G "$root/lists/*_Packages*" >/dev/null; then
        private_update
    fi
}
private_root=
private_updated=
private_update() {
    [ -n "$private_root" ] && [ -z "$private_updated" ] || return 1
    private_updated=1
    vmsix_info "fetching the arm64 package lists of $(basename "$private_root" | tr + ' ')"
    vmsix_apt_get_in "$dir" "${apt_opts[@]}" update -qq ||
        vmsix_die "apt-get update of $private_root failed; check the network access to the Debian mirror"
}

# resolve SPEC -> the versioned kernel package that the meta-package SPEC
# (linux-image-arm64:arm64[=VERSION]) depends on
resolve() {
    local pkg
    pkg=$(apt-cache "${apt_opts[@]}" depends "$1" 2>/dev/null |
          awk '/Depends: linux-image-/ { sub(/:arm64$/, "", $2); print $2; exit }')
    [ -n "$pkg" ] || return 0
    # Prefer the unsigned image: same kernel, without the EFI signature.
    if [ -n "$suite" ] && apt-cache "${apt_opts[@]}" show "$pkg-unsigned:arm64" >/dev/null 2>&1; then
        pkg="$pkg-unsigned"
    fi
    echo "$pkg"
}

# unpack PACKAGE OUT: download the arm64 PACKAGE and unpack it into OUT
unpack() {
    local pkg=$1 out=$2 debs deb
    rm -rf "$dir/debs/$pkg"
    mkdir -p "$dir/debs/$pkg"
    # A failed download is reported below, by the .deb it did not leave.
    vmsix_apt_get_in "$dir/debs/$pkg" "${apt_opts[@]}" download -qq "$pkg:arm64" ||
        { private_update && vmsix_apt_get_in "$dir/debs/$pkg" "${apt_opts[@]}" download -qq "$pkg:arm64"; } ||
        true
    debs=("$dir/debs/$pkg"/*.deb)
    deb=${debs[0]}
    [ -f "$deb" ] ||
        vmsix_die "$pkg:arm64 is not on the mirror (apt-cache policy $pkg:arm64); run apt-get update, or pick another with VMSIX_GUEST_KERNEL"
    dpkg-deb -x "$deb" "$out"
}

fetch() {       # fetch PACKAGE -> path of the unpacked tree
    local pkg=$1 out="$dir/$1"
    if [ ! -f "$out/.vmsix-ready" ]; then
        rm -rf "$out"
        unpack "$pkg" "$out"
        touch "$out/.vmsix-ready"
    fi
    echo "$out"
}

# kernel_version TREE: the one VERSION of TREE's (usr/)lib/modules/VERSION
kernel_version() {
    local d
    for d in "$1/lib/modules" "$1/usr/lib/modules"; do
        if [ -d "$d" ] && [ -n "$(ls "$d")" ]; then
            ls "$d" | head -n1
            return 0
        fi
    done
    return 1
}

# kernel_image TREE VERSION: the image, in either layout
kernel_image() {
    local f
    for f in "$1/boot/vmlinuz-$2" "$1/usr/lib/modules/$2/vmlinuz" "$1/lib/modules/$2/vmlinuz"; do
        [ -f "$f" ] && { echo "$f"; return 0; }
    done
    return 1
}

# fetch_kernel PACKAGE -> the tree of the kernel: PACKAGE, and, when it
# holds no image (7.x), the linux-binary-*, linux-modules-* and
# linux-base-VERSION (modules.builtin, modules.order, config) packages it
# depends on, unpacked together.
fetch_kernel() {
    local pkg=$1 out="$dir/$1" kver dep
    if [ ! -f "$out/.vmsix-ready" ]; then
        rm -rf "$out"
        unpack "$pkg" "$out"
        kver=$(kernel_version "$out" || true)
        if [ -z "$kver" ] || ! kernel_image "$out" "$kver" >/dev/null; then
            for dep in $(apt-cache "${apt_opts[@]}" depends "$pkg:arm64" 2>/dev/null |
                         awk '/Depends: linux-(binary|modules|base)-[0-9]/ { sub(/:arm64$/, "", $2); print $2 }'); do
                unpack "$dep" "$out"
            done
        fi
        kver=$(kernel_version "$out") ||
            vmsix_die "$pkg:arm64 (and the packages it depends on) has no lib/modules/VERSION"
        kernel_image "$out" "$kver" >/dev/null ||
            vmsix_die "$pkg:arm64 (and the packages it depends on) has no kernel image for $kver"
        touch "$out/.vmsix-ready"
    fi
    echo "$out"
}

# debian_qemu VERSION: the tree of qemu-system-arm VERSION and everything
# it depends on (apt's own resolution against an empty dpkg status, so
# the packages are those a trixie machine would install; from
# trixie-backports for a backports version), then the SRC=DEST lines of
# its binary and of its libraries' closure (their DT_NEEDED, found in the
# tree).  No data files: L1 runs it with -nodefaults and no firmware.
debian_qemu() {
    local ver=$1 out="$dir/qemu-system-arm-${1#*:}" debs t=() deb bin
    if [ ! -f "$out/.vmsix-ready" ]; then
        private_apt trixie trixie-updates trixie-backports
        debs="$dir/debs/qemu-system-arm-${ver#*:}"
        rm -rf "$out" "$debs"
        mkdir -p "$debs/partial"
        case "$ver" in *~bpo*) t=(-t trixie-backports) ;; esac
        get() {
            vmsix_apt_get_in "$dir" "${apt_opts[@]}" -o "Dir::Cache::Archives=$debs" \
                install --download-only -y -qq --no-install-recommends "${t[@]}" \
                "qemu-system-arm:arm64=$ver"
        }
        get || { private_update && get; } ||
            vmsix_die "qemu-system-arm:arm64=$ver and what it depends on cannot be downloaded from trixie or trixie-backports"
        for deb in "$debs"/*.deb; do
            dpkg-deb -x "$deb" "$out"
        done
        touch "$out/.vmsix-ready"
    fi
    bin="$out/usr/bin/qemu-system-aarch64"
    [ -x "$bin" ] || vmsix_die "no usr/bin/qemu-system-aarch64 in $out"
    echo "$bin=/bin/qemu-system-aarch64"
    elf_closure "$out" "the packages of qemu-system-arm=$ver" "$bin"
}

# elf_closure TREE WHAT ELF...: the SRC=DEST lines of the shared
# libraries that the ELFs need, transitively (their DT_NEEDED, found in
# TREE's usr/lib and lib), in /lib/aarch64-linux-gnu, and of the loader
# as /lib/ld-linux-aarch64.so.1; WHAT names TREE in an error.
elf_closure() {
    local out=$1 what=$2 todo seen=" " f n lib d
    shift 2
    todo=("$@")
    while [ ${#todo[@]} -gt 0 ]; do
        f=${todo[0]}
        todo=("${todo[@]:1}")
        for n in $(aarch64-linux-gnu-readelf -d "$f" |
                   sed -n 's/.*(NEEDED).*Shared library: \[\(.*\)\]/\1/p'); do
            case "$seen" in *" $n "*) continue ;; esac
            seen="$seen$n "
            lib=
            for d in usr/lib/aarch64-linux-gnu lib/aarch64-linux-gnu; do
                [ -e "$out/$d/$n" ] && { lib=$(readlink -f "$out/$d/$n"); break; }
            done
            [ -n "$lib" ] && [ -f "$lib" ] ||
                vmsix_die "$n, which $(basename "$f") needs, is in none of $what"
            echo "$lib=/lib/aarch64-linux-gnu/$n"
            todo+=("$lib")
        done
    done
    lib=$(readlink -f "$out/usr/lib/aarch64-linux-gnu/ld-linux-aarch64.so.1")
    [ -f "$lib" ] || vmsix_die "no ld-linux-aarch64.so.1 in $out"
    echo "$lib=/lib/ld-linux-aarch64.so.1"
}

# debian_libvirt: trixie's arm64 libvirt, for L1 (the nested "libvirt"
# scenario): libvirtd (trixie's libvirt 11.3 has no modular daemons:
# no virtqemud), its QEMU driver module, virsh and the closure
# of their shared libraries, trixie's libc included, and libvirt's CPU
# map; prints SRC=DEST lines for vmsix/initramfs.sh.  Resolved by the
# private apt against a dpkg status of our own that holds what L1's
# image does itself (LIBVIRT_L1_PROVIDES): the QEMU is the one under
# test, L1's /init is the init system and writes the configuration, and
# nothing there adds users, rotates logs or asks debconf questions, so
# qemu-system and those tools are not downloaded.
LIBVIRT_L1_PROVIDES="qemu-system qemu-kvm adduser logrotate sysvinit-core debconf libxml2-utils sensible-utils"
debian_libvirt() {
    local out="$dir/libvirt-trixie" debs status p f ver
    local pkgs=(libvirt-daemon-driver-qemu:arm64 libvirt-daemon:arm64 libvirt-clients:arm64)
    if [ ! -f "$out/.vmsix-ready" ]; then
        private_apt trixie trixie-updates trixie-backports
        debs="$dir/debs/libvirt-trixie"
        status="$private_root/status-libvirt"
        rm -rf "$out" "$debs"
        mkdir -p "$debs/partial" "$private_root/cache-libvirt"
        for p in $LIBVIRT_L1_PROVIDES; do
            printf 'Package: %s\nStatus: install ok installed\nArchitecture: all\nVersion: 9999\nDescription: provided by L1 image\n\n' "$p"
        done > "$status"
        get() {
            vmsix_apt_get_in "$dir" "${apt_opts[@]}" -o "Dir::State::status=$status" \
                -o "Dir::Cache=$private_root/cache-libvirt" -o "Dir::Cache::Archives=$debs" \
                install --download-only -y -qq --no-install-recommends -t trixie "${pkgs[@]}"
        }
        get || { private_update && get; } ||
            vmsix_die "${pkgs[*]} and what they depend on cannot be downloaded from trixie"
        for f in "$debs"/*.deb; do
            dpkg-deb -x "$f" "$out"
        done
        ver=$(dpkg-deb -f "$debs"/libvirt0_*.deb Version)
        echo "$ver" > "$out/.vmsix-libvirt-version"
        touch "$out/.vmsix-ready"
    fi
    local elfs=() src dest
    while read -r src dest; do
        [ -f "$out/$src" ] || vmsix_die "no $src in $out (libvirt $(cat "$out/.vmsix-libvirt-version"))"
        echo "$out/$src=$dest"
        elfs+=("$out/$src")
    done <<'FILES'
usr/sbin/libvirtd /usr/sbin/libvirtd
usr/bin/virsh /usr/bin/virsh
usr/lib/aarch64-linux-gnu/libvirt/connection-driver/libvirt_driver_qemu.so /usr/lib/aarch64-linux-gnu/libvirt/connection-driver/libvirt_driver_qemu.so
FILES
    elf_closure "$out" "the packages of libvirt $(cat "$out/.vmsix-libvirt-version")" "${elfs[@]}"
    # libvirt reads its CPU map when it probes the host's CPU
    for f in "$out"/usr/share/libvirt/cpu_map/*.xml; do
        [ -f "$f" ] || vmsix_die "no usr/share/libvirt/cpu_map in $out"
        echo "$f=/usr/share/libvirt/cpu_map/${f##*/}"
    done
}

if [ "${1:-}" = debian-qemu ]; then
    [ $# = 2 ] || vmsix_die "usage: vmsix/guest-assets.sh debian-qemu VERSION"
    debian_qemu "$2"
    exit 0
fi

if [ "${1:-}" = debian-libvirt ]; then
    [ $# = 1 ] || vmsix_die "usage: vmsix/guest-assets.sh debian-libvirt"
    debian_libvirt
    exit 0
fi

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
case "$suite" in
''|bookworm*) ;;
*) private_apt "$suite" ;;
esac
if [ -z "$kpkg" ]; then
    # Reuse what is cached, so that a run after the first is offline.
    kpkg=$(cat "$record" 2>/dev/null || true)
    if [ -z "$kpkg" ]; then
        spec=linux-image-arm64:arm64
        if [ -n "$suite" ] && [ -z "$private_root" ]; then
            # The host's apt has several suites: that suite's version
            ver=$(apt-cache madison "$spec" 2>/dev/null |
                  awk -F'|' -v s=" $suite/" 'index($3, s) { gsub(/ /, "", $2); print $2; exit }')
            spec=${ver:+$spec=$ver}
        fi
        [ -z "$spec" ] || kpkg=$(resolve "$spec")
        [ -n "$kpkg" ] ||
            vmsix_die "cannot resolve linux-image-arm64:arm64${suite:+ in $suite} on the mirror: run vmsix/deps.sh (it adds arm64, bookworm-backports and updates apt)"
    fi
fi
kernel=$(fetch_kernel "$kpkg")
echo "$kpkg" > "$record"
# busybox comes from the host's apt (bookworm) whatever the kernel
apt_opts=()
private_root=
busybox=$(fetch busybox-static)

kver=$(kernel_version "$kernel")
moddir="$kernel/lib/modules/$kver"
if [ ! -d "$moddir" ]; then
    moddir="$kernel/usr/lib/modules/$kver"
    # bookworm's depmod -b looks in BASE/lib/modules only
    [ -e "$kernel/lib" ] || ln -s usr/lib "$kernel/lib"
fi
[ -f "$moddir/modules.dep" ] ||
    depmod -b "$kernel" "$kver" || vmsix_die "depmod -b $kernel $kver failed"
echo "$(kernel_image "$kernel" "$kver")" "$moddir" "$busybox/bin/busybox"
