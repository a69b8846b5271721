#!/bin/busybox sh
# /init of L1, the KVM host of the nested harness (docs/devel/vmsix-nested.rst).
#
# It reports KVM and the ITS, binds the scenario's device to vfio-pci, runs
# L2 under its QEMU (traced by strace), relays L2's console with an "L2| "
# prefix, answers L2's sync points with its own vfio-pci interrupt counts,
# and prints the ioctl counts once L2 has exited.  Every line meant for the
# host's checks starts with NESTED-.
. /etc/nested/scenarios.sh
# shellcheck source=tests/nested/l1-qmp.sh
. /etc/nested/l1-qmp.sh
nested_guest_init NESTED-L1

# Sum of the CPU columns of L1's vfio MSI-X (or MSI) lines for the device.
vfio_sum() {
    awk -v b="($bdf)" 'index($0, "vfio-msi") && index($0, b) {
        for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) s += $i } END { print s + 0 }' /proc/interrupts
}

# The monitor commands L2 may ask for, sent to its QEMU's monitor pipe
hmp() {
    case "$1" in
    reset) cmd=system_reset ;;
    unplug) cmd="device_del hostdev0" ;;
    replug)
        # QEMU finishes an unplug when L2 turns the slot's power and
        # indicator off; it then closes the device and vfio-pci disables it
        i=0
        while [ "$(cat "$dev/enable")" != 0 ] && [ $i -lt 300 ]; do
            sleep 0.1
            i=$((i + 1))
        done
        cmd="device_add vfio-pci,host=$bdf$SCN_L1_VFIO"
        ;;
    *) say "FAIL L2 asked for an unknown monitor command '$1'"; return ;;
    esac
    say "hmp $cmd"
    echo "$cmd" > /tmp/hmp.in
}

# storm: what L1's QEMU holds, which must not grow from cycle to cycle;
# its open files counted by what they are, so a census that grew says
# what grew
census() {
    pid=$(pidof qemu-system-aarch64)
    [ -n "$pid" ] && [ -d "/proc/$pid/fd" ] ||
        { say "FAIL census $1: no QEMU process"; return; }
    links=$(for f in /proc/"$pid"/fd/*; do readlink "$f"; done | sed 's/:\[[0-9]*\]$//; s/ /_/g')
    kinds=$(printf '%s\n' "$links" | sort | uniq -c | awk '{ printf " %s=%s", $2, $1 }')
    say "census $1 fds $(printf '%s\n' "$links" | grep -c .) threads $(ls /proc/"$pid"/task | wc -l) kinds$kinds"
}

# The fork's QEMU has a QMP monitor on /tmp/qmp.{in,out} in the scenarios
# that ask for one (SCN_QMP): at "NESTED-L2-SYNC qmp-TAG" L1 sends it
# x-query-msix (SCN_QMP_ARGS: its arguments) and prints each line up to the
# reply, the events that came before it included, as
# "NESTED-L1-QMP TAG LINE".
qmp_query() {
    local cmd="{\"execute\": \"x-query-msix\"$SCN_QMP_ARGS}"

    qmp_open "NESTED-L1-QMP $1 " ||
        { say "FAIL QMP: no reply to qmp_capabilities"; return; }
    qmp_command "NESTED-L1-QMP $1 " "$cmd" || say "FAIL QMP: no reply to $cmd"
}

# Relay L2's console; at "NESTED-L2-SYNC TAG" print L1's view, then let
# L2 go on by writing a line to its console input.
relay() {
    cr=$(printf '\r')
    while IFS= read -r line; do
        line=${line%"$cr"}
        echo "L2| $line"
        case "$line" in
        *NESTED-L2-SYNC\ boot)
            boots=$((boots + 1))
            say "l2-boot $boots"
            echo "$boots" >&3
            ;;
        *NESTED-L2\ round\ [0-9]*)
            # L2 starts the round once its QEMU has written the marker
            echo go >&3
            ;;
        *NESTED-L2-HMP\ *)
            hmp "${line##*NESTED-L2-HMP }"
            ;;
        *NESTED-L2-SYNC\ qmp-*)
            [ -z "$qmp_on" ] || qmp_query "${line##*NESTED-L2-SYNC qmp-}"
            echo go >&3
            ;;
        *NESTED-L2-SYNC\ census-*)
            census "${line##*NESTED-L2-SYNC census-}"
            echo go >&3
            ;;
        *NESTED-L2-SYNC\ *)
            tag=${line##*NESTED-L2-SYNC }
            grep -F "($bdf)" /proc/interrupts | sed "s/^/NESTED-L1-IRQ $tag /"
            say "vfio-irqs $tag $(vfio_sum)"
            echo go >&3
            ;;
        esac
    done
}

count_ioctls() {
    for n in VFIO_DEVICE_SET_IRQS KVM_IRQFD KVM_SET_GSI_ROUTING KVM_SIGNAL_MSI KVM_RUN; do
        echo "NESTED-COUNT $n $(grep -c "ioctl([0-9]*, ${n}[,) ]" /tmp/strace.log)"
    done
    echo "NESTED-COUNT writev $(grep -c ' writev(' /tmp/strace.log)"
}

# Per round of a flapping scenario, the ioctls between L2's "round N"
# markers (nested_strace_events puts them at their exact place).
count_rounds() {
    nested_strace_events /tmp/strace.log | awk -v list="$NESTED_IOCTLS" '
    BEGIN { nn = split(list, names, " ") }
    /^LINE / {
        if ($0 ~ /NESTED-L2 round [0-9]+$/) {
            round = $NF + 0
            if (round > last) { last = round }
        } else if ($0 ~ /NESTED-L2 rounds done$/) {
            round = 0
        }
        next
    }
    round && /^IOCTL / { count[round, $2]++ }
    END {
        for (r = 1; r <= last; r++) {
            printf "NESTED-ROUND %d", r
            for (i = 1; i <= nn; i++) { printf " %s %d", names[i], count[r, names[i]] + 0 }
            printf "\n"
        }
    }'
}

# The traces of vfio-pci's MSI-X set-up (NESTED_L1_TRACE)
l1_trace() {
    if [ "$flavor" = fork ]; then echo "$NESTED_L1_TRACE_FORK"; else echo "$NESTED_L1_TRACE"; fi
}

scn=$(arg scenario)
flavor=$(arg flavor)
nested_scenario "$scn" || fail "unknown scenario '$scn'"
say "start scenario=$scn flavor=$flavor kernel=$(uname -r)"
dmesg | grep -E 'kvm \[|ITS|GICv|smmu' | sed 's/^/L1-DMESG| /'
[ -c /dev/kvm ] || fail "no /dev/kvm"

for m in $NESTED_L1_MODULES; do
    modprobe "$m" || fail "modprobe $m"
done

# Without a device from L0, L2's device is one that L1's QEMU emulates.
bdf=none
hostdev=
if [ -n "$SCN_L0_DEV" ]; then
    bdf=$(nested_find_device "$SCN_ID") || fail "no PCI device $SCN_ID"
    nested_bind_vfio "$bdf"
    unsafe=$(cat /sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts)
    say "bound $bdf driver=$drv group=$group unsafe_interrupts=$unsafe"
    hostdev="vfio-pci,host=$bdf$SCN_L1_VFIO"
fi

if [ -n "$SCN_L1_TAP" ]; then
    printf '#!/bin/sh\nip link set "$1" up && ip addr add %s dev "$1"\n' \
        "$NESTED_TAP_L1" > /tmp/tap-up
    chmod +x /tmp/tap-up
fi

mkfifo /tmp/l2-input /tmp/hmp.in /tmp/hmp.out
qmp_on= qmp_args=
if [ "$flavor" = fork ] && [ -n "$SCN_QMP" ]; then
    qmp_on=1
    qmp_args=$(qmp_monitor_args)
fi
# Only the lifecycle scenario has a monitor there; drain what it says
cat /tmp/hmp.out > /tmp/hmp.log &
boots=0
exec 3<>/tmp/l2-input
# vmsix.strace=off runs L1's QEMU without strace (and without counts).
tracer="strace -f -q --seccomp-bpf -ttt -e trace=ioctl,writev -o /tmp/strace.log"
[ "$(arg strace)" = off ] && tracer=
[ "$SCN_TRAFFIC" = storm ] && tracer=

# run_l2 VARIANT: run L2 under L1's QEMU (with the options of VARIANT of
# the scenario, or "-" for none), then print what its QEMU did.
# SCN_L1_QEMU is a list of options.  It goes before the vfio-pci device:
# a vIOMMU must exist when the devices behind it are realized, or they
# get the plain address space (and DMA to L2's IOVAs faults in L1).
# shellcheck disable=SC2086
run_l2() {
    SCN_V_VFIO='' SCN_V_QEMU=''
    if [ "$1" != - ]; then
        nested_variant "$1" || fail "unknown variant '$1'"
        say "variant $1"
    fi
    set -- -accel kvm -M virt,gic-version=3 -cpu host -smp 1 -m 256M \
        -nodefaults -display none -no-reboot -serial stdio \
        -kernel /l2/Image -initrd /l2/initrd.cpio \
        -append "console=ttyAMA0 rdinit=/init panic=-1 quiet vmsix.scenario=$scn $SCN_L2_APPEND" \
        $SCN_L1_QEMU $SCN_V_QEMU $(l1_trace) $qmp_args \
        ${hostdev:+-device "$hostdev$SCN_V_VFIO"}
    say "qemu $flavor $*"
    : > /tmp/strace.log
    {
        $tracer /bin/qemu-system-aarch64 "$@" <&3 2>&1
        echo $? > /tmp/l2.rc
    } | relay
    say "l2-exit $(cat /tmp/l2.rc)"
    # What the monitor refused (its echo of the commands is noise)
    grep -a -i error /tmp/hmp.log | sed 's/^/L1-HMP| /'
    # What L1's kernel said about the device while L2 ran (for failures).
    dmesg | grep -iE 'smmu|vfio|iommu|its' | tail -n 15 | sed 's/^/L1-DMESG-END| /'
    count_ioctls
    count_rounds
}

# The fork runs each variant of the scenario, stock its own QEMU once.
variants=-
if [ -n "$SCN_VARIANTS" ]; then
    variants=$SCN_VARIANTS
    [ "$flavor" = fork ] || variants=stock
fi
for v in $variants; do
    run_l2 "$v"
done
finish 0
