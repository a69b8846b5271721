#!/bin/busybox sh
# /init of the demo guest: bring up an NVMe disk, read from it, and print
# the MSI-X lines of /proc/interrupts.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
modprobe nvme
# The disk appears when the driver's probe work finishes.
for i in $(seq 300); do
    [ -b /dev/nvme0n1 ] && break
    sleep 0.1
done
dd if=/dev/nvme0n1 of=/dev/null bs=4096 count=512 iflag=direct 2>/dev/null
echo "demo: /proc/interrupts"
grep -E 'MSI|nvme' /proc/interrupts | sed 's/^/demo: /'
echo "demo: done"
poweroff -f
