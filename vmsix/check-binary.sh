#!/usr/bin/env bash
# Check that a built qemu-system-aarch64 is what its build claims to be.
#
# usage: vmsix/check-binary.sh fork-native|stock-native|fork-cross|stock-cross
set -euo pipefail
. "$(dirname "$0")/lib.sh"

which=$1
bin="$VMSIX_BUILD/qemu/$which/qemu-system-aarch64"
[ -x "$bin" ] || vmsix_die "$bin was not built"
fail=0

# expect WHAT TEXT REGEX [absent]
expect() {
    local found=0
    grep -qE -- "$3" <<<"$2" && found=1
    if [ "${4:-}" = absent ]; then
        found=$((1 - found))
    fi
    if [ $found = 1 ]; then
        echo "ok: $1"
    else
        echo "FAIL: $1"
        fail=1
    fi
}

case "$which" in
*-native)
    expect "x86-64 executable" "$(file -L "$bin")" 'x86-64'
    expect "has the tcg accelerator" "$("$bin" -accel help)" '^tcg$'
    # The monitor's "quit" ends it; an unknown accelerator fails at start.
    expect "starts with the qtest accelerator" \
        "$(echo quit | timeout 60 "$bin" -M none -display none -nodefaults \
           -accel qtest -monitor stdio 2>&1 && echo started)" '^started$'
    devs=$("$bin" -M virt -device help)
    for d in vfio-pci pcie-root-port pci-bridge e1000e nvme virtio-net-pci edu; do
        expect "has device $d" "$devs" "^name \"$d\""
    done
    ;;
*-cross)
    info=$(file -L "$bin")
    expect "aarch64 executable" "$info" 'ARM aarch64'
    expect "statically linked" "$info" 'static(-pie)? linked|statically linked'
    syms=$(aarch64-linux-gnu-nm "$bin")
    expect "has KVM" "$syms" ' kvm_init$'
    expect "has no TCG" "$syms" ' tcg_init$' absent
    expect "has vfio-pci" "$syms" ' vfio_realize$'
    ;;
*)
    vmsix_die "unknown binary '$which'"
    ;;
esac
exit $fail
