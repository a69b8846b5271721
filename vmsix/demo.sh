#!/usr/bin/env bash
# The main job's demo: boot an arm64 Linux guest on the fork's
# qemu-system-aarch64 (virt, GICv3 with ITS, TCG) with an NVMe device, and
# show its MSI-X interrupts arriving as ITS LPIs.
#
# usage: vmsix/demo.sh
set -euo pipefail
. "$(dirname "$0")/lib.sh"

qemu="$VMSIX_BUILD/qemu/fork-native/qemu-system-aarch64"
[ -x "$qemu" ] || vmsix_die "$qemu is not built: run ./qemu-vmsix build"
work="$VMSIX_BUILD/demo"
mkdir -p "$work"
read -r kernel _moddir _busybox < <("$VMSIX_TOP/vmsix/guest-assets.sh")
"$VMSIX_TOP/vmsix/initramfs.sh" "$work/initrd.cpio" "$VMSIX_TOP/vmsix/demo-init.sh" nvme

vmsix_info "booting an arm64 guest on virt with GICv3 + ITS under TCG"
timeout 300 "$qemu" -M virt,gic-version=3,its=on -cpu max -smp 2 -m 1G \
    -accel tcg -nodefaults -display none -serial stdio -no-reboot \
    -kernel "$kernel" -initrd "$work/initrd.cpio" \
    -append "console=ttyAMA0 rdinit=/init panic=-1 quiet" \
    -drive file=null-co://,if=none,id=disk,format=raw,file.read-zeroes=on \
    -device nvme,drive=disk,serial=vmsix-demo \
    < /dev/null > "$work/console.log" 2>&1 || true
tr -d '\r' < "$work/console.log" > "$work/console.txt"

grep -q '^demo: done' "$work/console.txt" || {
    tail -n 30 "$work/console.txt" >&2
    vmsix_die "the guest did not finish; its console is $work/console.txt"
}
echo "Guest: arm64 Linux $(basename "$kernel" | sed 's/vmlinuz-//') on qemu-vmsix $(basename "$(dirname "$qemu")"), virt + GICv3 ITS"
echo "Its NVMe MSI-X interrupts (CPU0 CPU1 ... chip hwirq name):"
lines=$(sed -n 's/^demo: \(.*MSI.*nvme.*\)/\1/p' "$work/console.txt")
[ -n "$lines" ] || vmsix_die "no NVMe MSI-X line in the guest's /proc/interrupts"
grep -q 'ITS-MSI' <<<"$lines" ||
    vmsix_die "the NVMe vectors are not LPIs of the ITS; the guest's console is $work/console.txt"
echo "$lines" | sed 's/^ */  /'
total=$(echo "$lines" | awk '{ for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) s += $i } END { print s + 0 }')
[ "$total" -gt 0 ] || vmsix_die "the NVMe MSI-X vectors received no interrupt"
echo "$total MSI-X interrupts delivered through the ITS."
