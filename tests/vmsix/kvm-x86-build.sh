#!/usr/bin/env bash
# The patched generic KVM code must build for x86_64, where a GSI has two
# routes (PIC and IOAPIC) and the in-kernel irqchip and Xen emulation are
# more users of the routes: the fork's own builds are all aarch64.
#
# The prepared fork tree is configured once for x86_64-softmmu with KVM
# (vmsix/build-qemu.sh fork x86), and only the objects of these sources
# are built, no QEMU:
#
#   accel/kvm/kvm-all.c, accel/kvm/kvm-msi-route.c, hw/i386/kvm/*.c (what
#   the configuration compiles of them), hw/pci/msix-eventfd*.c,
#   hw/misc/ivshmem-pci.c, hw/virtio/virtio-pci.c
set -euo pipefail
. "$(dirname "$0")/../../vmsix/lib.sh"

bld="$VMSIX_BUILD/qemu/fork-x86"
build_qemu="$VMSIX_TOP/vmsix/build-qemu.sh"

# Configure if needed; the target build.ninja only brings the build files
# up to date with the tree, so that the object list below is the tree's.
"$build_qemu" fork x86 build.ninja

# Ninja names an object <library>.p/<source path, / turned into _>.o
groups=(
    'accel_kvm_kvm-all\.c'
    'accel_kvm_kvm-msi-route\.c'
    'hw_i386_kvm_[^/]*\.c'
    'hw_misc_ivshmem-pci\.c'
    'hw_pci_msix-eventfd[^/]*\.c'
    'hw_virtio_virtio-pci\.c'
)
all=$(ninja -C "$bld" -t targets all | sed -n 's/^\([^:]*\.o\): .*/\1/p')
objs=()
for g in "${groups[@]}"; do
    mapfile -t found < <(grep -E "\.p/$g\.o\$" <<<"$all" || true)
    [ ${#found[@]} -gt 0 ] ||
        vmsix_die "FAIL: no object matches $g in the x86_64 build: is KVM configured?"
    objs+=("${found[@]}")
done

"$build_qemu" fork x86 "${objs[@]}"
echo "ok: ${#objs[@]} objects build for x86_64 with KVM:"
printf '  %s\n' "${objs[@]##*/}"
