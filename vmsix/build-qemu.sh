#!/usr/bin/env bash
# Configure (once) and build qemu-system-aarch64 from a prepared tree.
#
# usage: vmsix/build-qemu.sh fork|stock native|cross [ninja targets...]
#        vmsix/build-qemu.sh fork asan [ninja targets...]
#        vmsix/build-qemu.sh fork x86 ninja targets...
#
#   native: x86_64 host, TCG + KVM + qtest, for the qtests and L0
#   cross:  aarch64 static, KVM only, for L1 of the nested harness
#   x86:    x86_64-softmmu with KVM and its default devices, never built
#           whole: tests/vmsix/kvm-x86-build.sh compiles generic KVM code
#           of the patches in it, on the architecture whose GSIs have
#           several routes (PIC and IOAPIC)
#   asan:   fork only: native's configuration built by clang with ASan,
#           UBSan (a report aborts) and libFuzzer instrumentation, for
#           the sanitize and fuzz tiers (qemu-fuzz-aarch64 is its fuzzer)
#
# Every build goes through ccache; its cache lives beside the base cache.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

flavor=${1:-}
kind=${2:-}
shift 2 || true
case "$flavor/$kind" in
fork/native|fork/cross|stock/native|stock/cross|fork/x86|fork/asan) ;;
*) vmsix_die "usage: vmsix/build-qemu.sh fork|stock native|cross [targets...], fork asan [targets...], or fork x86 targets..." ;;
esac

src="$VMSIX_BUILD/src/$flavor"
bld="$VMSIX_BUILD/qemu/$flavor-$kind"
[ -d "$src/.git" ] || vmsix_die "$src is not prepared: run vmsix/prepare-tree.sh $flavor"

for tool in ccache ninja meson; do
    command -v $tool >/dev/null || vmsix_die "$tool is missing: run vmsix/deps.sh as root"
done

vmsix_use_ccache

common=(--target-list=aarch64-softmmu
        --without-default-features --without-default-devices
        --with-devices-aarch64=vmsix
        --enable-kvm --enable-fdt=system
        --disable-docs --disable-install-blobs --disable-download
        --python=/usr/bin/python3)
case "$kind" in
native)
    args=("${common[@]}" --enable-tcg --enable-slirp)
    env=()
    ;;
asan)
    command -v clang >/dev/null ||
        vmsix_die "clang is missing: run vmsix/deps.sh sanitize as root"
    # -fno-sanitize-recover: a UBSan report ends the process, so the test
    # that triggered it fails instead of printing a line nobody reads.
    # --enable-fuzzing instruments hw/ for libFuzzer and adds
    # qemu-fuzz-aarch64; the same objects run the unit tests and qtests.
    args=("${common[@]}" --enable-tcg --enable-slirp --cc=clang --cxx=clang++
          --enable-asan --enable-ubsan --enable-fuzzing
          --extra-cflags=-fno-sanitize-recover=undefined)
    env=()
    ;;
cross)
    command -v aarch64-linux-gnu-gcc >/dev/null ||
        vmsix_die "aarch64-linux-gnu-gcc is missing: run vmsix/deps.sh as root"
    [ -f /usr/lib/aarch64-linux-gnu/libfdt.a ] ||
        vmsix_die "libfdt.a for arm64 is missing: run vmsix/deps.sh as root"
    # vhost-net: L1's QEMU serves a virtio-net through the host's vhost
    args=("${common[@]}" --cross-prefix=aarch64-linux-gnu- --static --disable-tcg
          --enable-vhost-kernel --enable-vhost-net)
    env=(PKG_CONFIG_LIBDIR=/usr/lib/aarch64-linux-gnu/pkgconfig)
    ;;
x86)
    [ $# -gt 0 ] || vmsix_die "the x86 build has no binary: name its ninja targets"
    args=(--target-list=x86_64-softmmu --without-default-features
          --enable-kvm --disable-tcg
          --disable-docs --disable-install-blobs --disable-download
          --python=/usr/bin/python3)
    env=()
    ;;
esac

want="${args[*]}"
if [ ! -f "$bld/build.ninja" ] || [ "$(cat "$bld/.vmsix-configure" 2>/dev/null)" != "$want" ]; then
    rm -rf "$bld"
    mkdir -p "$bld"
    vmsix_info "configuring $flavor-$kind"
    if ! (cd "$bld" && env "${env[@]}" "$src/configure" "${args[@]}") >"$bld/configure.log" 2>&1; then
        tail -n 30 "$bld/configure.log" >&2
        vmsix_die "configure of $flavor-$kind failed; the whole log is $bld/configure.log"
    fi
    echo "$want" > "$bld/.vmsix-configure"
fi

[ $# -gt 0 ] || set -- qemu-system-aarch64
vmsix_info "building $flavor-$kind: $*"
# Keep the log short: ninja's lines go to a file, and a line every tenth
# of the way says that a long cold build is still going.
if ! ninja -C "$bld" "$@" 2>&1 | vmsix_progress "building $flavor-$kind" "$bld/ninja.log"; then
    { grep -vE '^\[[0-9]+/[0-9]+\] ' "$bld/ninja.log" || true; } | tail -n 40 >&2
    vmsix_die "build of $flavor-$kind failed; the whole log is $bld/ninja.log"
fi
