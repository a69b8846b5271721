#!/usr/bin/env bash
# The main job's demo: an arm64 KVM guest receiving MSI-X interrupts from
# a NIC passed through with vfio-pci by the fork's qemu-system-aarch64.
# This machine has no arm64 host, so the host is nested, all under TCG
# (tests/nested, docs/devel/vmsix-nested.rst):
#
#   L0  fork-native qemu-system-aarch64: virt, GICv3 ITS, SMMUv3, e1000e
#   L1  arm64 Linux with KVM and vfio-pci, running fork-cross
#       qemu-system-aarch64 -accel kvm -device vfio-pci,host=...
#   L2  arm64 Linux, the KVM guest that drives the NIC
#
# usage: vmsix/demo.sh
set -euo pipefail
. "$(dirname "$0")/lib.sh"

log="$VMSIX_BUILD/nested/e1000e-fork.log"
out="$VMSIX_BUILD/nested/demo.txt"
mkdir -p "$VMSIX_BUILD/nested"
vmsix_info "L0 TCG -> L1 KVM + vfio-pci -> L2 (about two minutes)"
if ! "$VMSIX_TOP/tests/nested/nested.sh" run e1000e fork > "$out" 2>&1; then
    cat "$out" >&2
    vmsix_die "the nested run failed; its log is $log"
fi

field() { sed -nE "s/$1/\\1/p" "$log" | tail -n1; }
bdf=$(field '^NESTED-L1 bound ([0-9a-f:.]+) .*')
group=$(field '^NESTED-L1 bound .* group=([0-9]+) .*')
l1_kernel=$(field '^NESTED-L1 start .* kernel=(.*)$')
l2_kernel=$(field '^L2\| NESTED-L2 start .* kernel=(.*)$')
relayed=$(( $(field '^NESTED-L1 vfio-irqs after ([0-9]+)$') -
            $(field '^NESTED-L1 vfio-irqs before ([0-9]+)$') ))
total=$(sed -nE 's/^L2\| NESTED-L2 msix-irqs before ([0-9]+) after ([0-9]+)$/\1 \2/p' "$log" |
        tail -n1 | awk '{ print $2 - $1 }')

echo "L0  x86_64 qemu-system-aarch64 (TCG): virt, GICv3 ITS, SMMUv3, an e1000e NIC"
echo "L1  arm64 Linux $l1_kernel with KVM; the NIC $bdf bound to vfio-pci, IOMMU group $group"
echo "    qemu-vmsix: qemu-system-aarch64 -accel kvm -device vfio-pci,host=$bdf"
echo "L2  arm64 Linux $l2_kernel, a KVM guest: DHCP lease through the NIC; its MSI-X lines"
sed -nE 's/^L2\| NESTED-L2-IRQ +(.*)$/      \1/p' "$log"
echo "    $total MSI-X interrupts in L2; vfio-pci in L1 relayed $relayed to KVM irqfds"
echo "    L1 ioctls: $(sed -n 's/^NESTED-COUNT //p' "$log" |
    grep -E 'SET_IRQS|IRQFD|GSI_ROUTING|SIGNAL_MSI' | tr '\n' ' ')"
[ "${total:-0}" -gt 0 ] || vmsix_die "L2 counted no MSI-X interrupt"
