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
# The traces of vfio-pci's MSI-X set-up (NESTED_L1_TRACE)
trace=$NESTED_L1_TRACE
[ "$(arg flavor)" = fork ] && trace=$NESTED_L1_TRACE_FORK
# shellcheck disable=SC2086
set -- -accel kvm -M virt,gic-version=3 -cpu host -smp 1 -m 256M \
    -nodefaults -display none -no-reboot -serial stdio \
    -kernel /l2/payload.img -append "$l2args" $trace \
    -device pcie-root-port,id=rp,chassis=1 \
    -device "vfio-pci,host=$bdf,bus=rp"
say "qemu $*"

# QEMU's ioctls, counted per scenario by L1's kernel: syscall trace events,
# filtered in the kernel to the ioctls of NESTED_IOCTLS and to the writev
# calls of L2's console, for QEMU's threads only.  (strace, as in the
# Linux scenarios, stops QEMU at every KVM exit, which under TCG made the
# payload's run eleven minutes instead of one.)  vmsix.ioctls=off runs
# QEMU without the trace.
T=/sys/kernel/tracing
ioctl_filter="cmd == 0x3b6e || cmd == 0x4020ae76 || cmd == 0x4008ae6a || cmd == 0x4020aea5"
ioctl_names="0x3b6e=VFIO_DEVICE_SET_IRQS 0x4020ae76=KVM_IRQFD 0x4008ae6a=KVM_SET_GSI_ROUTING 0x4020aea5=KVM_SIGNAL_MSI"
ktrace=
if [ "$(arg ioctls)" != off ]; then
    mount -t tracefs nodev "$T" 2>/dev/null
    [ -d "$T/events/syscalls/sys_enter_ioctl" ] || fail "no syscall trace events in $T"
    echo 0 > "$T/tracing_on"
    echo 16384 > "$T/buffer_size_kb"
    echo 1 > "$T/options/event-fork"
    echo "$ioctl_filter" > "$T/events/syscalls/sys_enter_ioctl/filter"
    echo "fd == 1" > "$T/events/syscalls/sys_enter_writev/filter"
    for e in sys_enter_ioctl sys_enter_writev sys_exit_writev; do
        echo 1 > "$T/events/syscalls/$e/enable"
    done
    : > "$T/trace"
    ktrace=1
fi
# QEMU's own pid (and, with event-fork, its threads') is the only one
# traced; its stdout, L2's console, is kept for the byte offsets of the
# result lines, its stderr (trace and error lines) relayed at the end.
cr=$(printf '\r')
{
    if [ -n "$ktrace" ]; then
        # shellcheck disable=SC2016
        sh -c 'echo $$ > '"$T"'/set_event_pid && echo 1 > '"$T"'/tracing_on && exec "$0" "$@"' \
            /bin/qemu-system-aarch64 "$@" </dev/null 2>/tmp/qemu.err
    else
        /bin/qemu-system-aarch64 "$@" </dev/null 2>/tmp/qemu.err
    fi
    echo $? > /tmp/l2.rc
} | tee /tmp/l2.out | while IFS= read -r line; do echo "L2| ${line%"$cr"}"; done
[ -z "$ktrace" ] || echo 0 > "$T/tracing_on"
while IFS= read -r line; do echo "L2| $line"; done < /tmp/qemu.err
say "l2-exit $(cat /tmp/l2.rc)"
dmesg | grep -iE 'vfio|smmu|its' | tail -n 10 | sed 's/^/L1-DMESG-END| /'
if [ -n "$ktrace" ]; then
    # Nothing may have been dropped: "entries-in-buffer/entries-written: N/N"
    lost=$(sed -n 's/^# entries-in-buffer\/entries-written: \([0-9]*\)\/\([0-9]*\).*/\1 \2/p' "$T/trace" |
        awk '{ print $2 - $1 }')
    say "ioctl-trace lost ${lost:-unknown}"
    # The ioctls of each scenario: those after the end of the result line
    # before it, up to the end of its own result line, by the bytes QEMU
    # had written to L2's console when it made them (the first result's
    # count has QEMU's start and the payload's boot too; "end" is after
    # the last result, the shutdown)
    awk '{ off += length($0) + 1 }
        /^VMSIX-RESULT name=/ { n = $2; sub(/^name=/, "", n); print "END " off " " n }' /tmp/l2.out |
        cat - "$T/trace" | awk -v names="$ioctl_names" '
    BEGIN {
        nn = split(names, pairs, " ")
        for (i = 1; i <= nn; i++) {
            split(pairs[i], kv, "=")
            name[kv[1]] = kv[2]
            order[i] = kv[2]
        }
        cur = 1
    }
    $1 == "END" { segend[++nseg] = $2; segname[nseg] = $3; next }
    /^#/ { next }
    {
        pid = $1
        sub(/.*-/, "", pid)
    }
    / sys_writev\(fd: (0x)?0*1,/ { pending[pid] = 1; next }
    / sys_writev -> / {
        if (pending[pid]) {
            v = $NF
            bytes += (v ~ /^0x/) ? hex(v) : v + 0
        }
        pending[pid] = 0
        next
    }
    / sys_ioctl\(/ {
        while (cur <= nseg && bytes >= segend[cur]) { cur++ }
        c = $0
        sub(/.*cmd: /, "", c)
        sub(/,.*/, "", c)
        c = tolower(c)
        sub(/^(0x)?0*/, "0x", c)    # 7.x prints 0x0000abcd, 6.12 abcd
        count[cur, name[c]]++
    }
    function hex(s,   i, d, v) {
        v = 0
        s = tolower(substr(s, 3))
        for (i = 1; i <= length(s); i++) {
            d = index("0123456789abcdef", substr(s, i, 1)) - 1
            v = v * 16 + d
        }
        return v
    }
    END {
        segname[nseg + 1] = "end"
        for (g = 1; g <= nseg + 1; g++) {
            printf "PAYLOAD-IOCTLS %s", segname[g]
            for (i = 1; i <= nn; i++) { printf " %s %d", order[i], count[g, order[i]] + 0 }
            printf "\n"
        }
    }'
fi
finish 0
