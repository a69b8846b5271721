#!/bin/busybox sh
# shellcheck shell=sh
# /init of L1 for the payload's nested run (tests/nested/payload/nested.sh,
# docs/devel/vmsix-payload.rst): bind L0's msix-testdev to vfio-pci and
# boot the payload as L2 under the QEMU under test, the device behind a
# pcie-root-port of L2.  L2's console is relayed with an "L2| " prefix.
# shellcheck source=tests/nested/scenarios.sh
. /etc/nested/scenarios.sh
nested_guest_init PAYLOAD-L1

say "start flavor=$(arg flavor) kernel=$(uname -r)"
[ -c /dev/kvm ] || fail "no /dev/kvm"
for m in $NESTED_L1_MODULES; do
    modprobe "$m" || fail "modprobe $m"
done
bdf=$(nested_find_device 1b36:00f0) || fail "no msix-testdev"
nested_bind_vfio "$bdf"
say "bound $bdf group=$group"

# The payload's deadlines and raiser period are widened for L2 on KVM on
# TCG: it is much slower than a direct run, not differently correct.
l2args="vmsix.expect=$(arg vectors) vmsix.wait_ms=30000 vmsix.quiet_ms=300 vmsix.auto_us=$(arg auto_us) vmsix.watchdog=600"
only=$(arg only)
[ -z "$only" ] || l2args="$l2args vmsix.only=$only"
set -- -accel kvm -M virt,gic-version=3 -cpu host -smp 1 -m 256M \
    -nodefaults -display none -no-reboot -serial stdio \
    -kernel /l2/payload.img -append "$l2args" \
    -device pcie-root-port,id=rp,chassis=1 \
    -device "vfio-pci,host=$bdf,bus=rp"
say "qemu $*"
cr=$(printf '\r')
{
    /bin/qemu-system-aarch64 "$@" </dev/null 2>&1
    echo $? > /tmp/l2.rc
} | while IFS= read -r line; do echo "L2| ${line%"$cr"}"; done
say "l2-exit $(cat /tmp/l2.rc)"
dmesg | grep -iE 'vfio|smmu|its' | tail -n 10 | sed 's/^/L1-DMESG-END| /'
finish 0
