#!/bin/busybox sh
# shellcheck shell=sh
# /init of L1 for the payload's nested run (tests/nested/payload/nested.sh,
# docs/devel/vmsix-payload.rst): bind L0's msix-testdev to vfio-pci and
# boot the payload as L2 under the QEMU under test, the device behind a
# pcie-root-port of L2.  L2's console is relayed with an "L2| " prefix.
# With vmsix.ivshmem=1 nothing is passed through: L2 has ivshmem-doorbells
# of L1's QEMU instead, each served by its own vmsix-ivshmem-server.
# shellcheck source=tests/nested/scenarios.sh
. /etc/nested/scenarios.sh
# shellcheck source=tests/nested/l1-qmp.sh
. /etc/nested/l1-qmp.sh
nested_guest_init PAYLOAD-L1

say "start flavor=$(arg flavor) kernel=$(uname -r)"
[ -c /dev/kvm ] || fail "no /dev/kvm"
for m in $NESTED_L1_MODULES; do
    modprobe "$m" || fail "modprobe $m"
done
# The interrupt ioctls of L1's QEMU, counted in the windows the payload
# marks (VMSIX-MARK NAME, until the next mark), from the kernel's syscall
# trace: unlike strace it does not stop QEMU at every KVM_RUN.
tr=/sys/kernel/tracing
IOCTLS="VFIO_DEVICE_SET_IRQS=0x3b6e KVM_IRQFD=0x4020ae76 KVM_SET_GSI_ROUTING=0x4008ae6a KVM_SIGNAL_MSI=0x4020aea5"
# ...and for the profile, the vCPUs' own
PROFILE_IOCTLS="KVM_RUN=0xae80"
# What the awk programs on the trace share: hex(S), the trace's numbers
# (in hex, zero-padded, with or without 0x) as one spelling, and
# ioctl_names(LIST), which sets names[I] and cmd[HEX] = I for each
# NAME=NUMBER of LIST and returns how many there are
AWK_IOCTLS='
function hex(s) {
    s = tolower(s)
    sub(/^0x/, "", s)
    sub(/^0+/, "", s)
    return s
}
# trace_line(LINE): the name of its thread (spaces as "_"), TID and seconds in
# comm, tid and ts, from "COMM-TID [CPU] FLAGS SECONDS: EVENT" (COMM may
# have spaces: "CPU 0/KVM"); 0 if LINE is no event
function trace_line(line) {
    if (!match(line, /-[0-9]+ +\[[0-9]+\]/)) { return 0 }
    comm = substr(line, 1, RSTART - 1)
    sub(/^ +/, "", comm)
    gsub(/ /, "_", comm)
    tid = substr(line, RSTART + 1, RLENGTH - 1)
    sub(/ .*/, "", tid)
    if (!match(line, /[0-9]+\.[0-9]+: /)) { return 0 }
    ts = substr(line, RSTART, RLENGTH - 2) + 0
    return 1
}
function ioctl_names(list,    kv, p, i, n) {
    n = split(list, kv, " ")
    for (i = 1; i <= n; i++) {
        split(kv[i], p, "=")
        names[i] = p[1]
        cmd[hex(p[2])] = i
    }
    return n
}
'

# vmsix.profile=1 times the ioctls above; 2 also every syscall of every
# thread (raw_syscalls), to see where QEMU's own time goes
profile=
case "$(arg profile)" in
1 | 2) profile=$(arg profile) ;;
esac
trace_ioctls() {
    local f= i
    mount -t tracefs tracefs $tr || fail "mount tracefs"
    for i in $IOCTLS ${profile:+$PROFILE_IOCTLS}; do
        f="${f:+$f || }cmd == ${i#*=}"
    done
    echo global > $tr/trace_clock
    echo 16384 > $tr/buffer_size_kb
    echo "$f" > $tr/events/syscalls/sys_enter_ioctl/filter ||
        fail "syscall trace filter refused"
    echo 1 > $tr/events/syscalls/sys_enter_ioctl/enable
    # The profile (vmsix.profile=1) times each call to its return
    [ -z "$profile" ] || echo 1 > $tr/events/syscalls/sys_exit_ioctl/enable
}
# ...every syscall only in the window vmsix.profile_window names (default
# g-mask-unmask): a whole run's would be more than L1 can go through
profile_syscalls_at() {
    local on=0 w
    w=$(arg profile_window)
    [ "$1" = "${w:-g-mask-unmask}" ] && on=1
    echo $on > $tr/events/raw_syscalls/enable
}

# vmsix.profile=1: per window, each traced ioctl's calls and the
# microseconds they took (enter to return, on the same thread), and the
# vCPU threads' time out of KVM_RUN, from each return to the next call
# (QEMU handling the exit, the ioctls it made included):
#   PAYLOAD-PROFILE WINDOW NAME CALLS US ... userspace RETURNS US
profile_windows() {
    echo 0 > $tr/events/syscalls/sys_exit_ioctl/enable
    awk -v ioctls="$IOCTLS $PROFILE_IOCTLS" "$AWK_IOCTLS"'
    BEGIN {
        n = ioctl_names(ioctls)
        for (i = 1; i <= n; i++) {
            if (names[i] == "KVM_RUN") { run = i }
        }
    }
    !trace_line($0) { next }
    /tracing_mark_write: VMSIX-MARK / {
        win = $NF
        if (!(win in seen)) { seen[win] = 1; order[++nwin] = win }
        next
    }
    /sys_ioctl\(/ && match($0, /cmd: (0x)?[0-9a-f]+/) {
        c = hex(substr($0, RSTART + 5, RLENGTH - 5))
        if (!(c in cmd)) { next }
        busy[tid] = cmd[c]
        since[tid] = ts
        if (cmd[c] == run && (tid in out)) {
            if (win != "") { user[win] += ts - out[tid]; returns[win]++ }
            delete out[tid]
        }
        next
    }
    /sys_ioctl -> / && (tid in busy) {
        k = busy[tid]
        if (win != "") { calls[win, k]++; took[win, k] += ts - since[tid] }
        if (k == run) { out[tid] = ts }
        delete busy[tid]
    }
    END {
        for (w = 1; w <= nwin; w++) {
            x = order[w]
            printf "PAYLOAD-PROFILE %s", x
            for (i = 1; i <= n; i++) {
                printf " %s %d %.0f", names[i], calls[x, i], took[x, i] * 1e6
            }
            printf " userspace %d %.0f\n", returns[x], user[x] * 1e6
        }
    }' $tr/trace
    [ "$profile" != 2 ] || profile_syscalls
}

# vmsix.profile=2: per window and thread name, each syscall's calls and
# the microseconds from its entry to its return (arm64 numbers, a few
# named; spaces in thread names as "_"):
#   PAYLOAD-SYSCALLS WINDOW THREAD SYSCALL CALLS US
profile_syscalls() {
    echo 0 > $tr/events/raw_syscalls/enable
    awk "$AWK_IOCTLS"'
    BEGIN {
        split("21=epoll_ctl 22=epoll_pwait 29=ioctl 63=read 64=write " \
              "66=writev 73=ppoll 98=futex 113=clock_gettime " \
              "124=sched_yield 226=mprotect 233=madvise", kv, " ")
        for (i in kv) { split(kv[i], p, "="); sysname[p[1]] = p[2] }
    }
    /tracing_mark_write: VMSIX-MARK / { win = $NF; next }
    / sys_(enter|exit): NR / && trace_line($0) {
        match($0, /NR [0-9]+/)
        nr = substr($0, RSTART + 3, RLENGTH - 3)
        if ($0 ~ / sys_enter: /) { at[tid] = ts; what[tid] = nr; next }
        if (!(tid in at) || win == "") { delete at[tid]; next }
        name = (what[tid] in sysname) ? sysname[what[tid]] : "nr" what[tid]
        k = win SUBSEP comm SUBSEP name
        if (!(k in calls)) { keys[++nk] = k }
        calls[k]++
        took[k] += ts - at[tid]
        delete at[tid]
    }
    END {
        for (i = 1; i <= nk; i++) {
            split(keys[i], f, SUBSEP)
            printf "PAYLOAD-SYSCALLS %s %s %s %d %.0f\n", f[1], f[2], f[3],
                calls[keys[i]], took[keys[i]] * 1e6
        }
    }' $tr/trace
}

# L2's console, prefixed; a mark goes into the trace before the payload
# is told to go on, and so do the fork's trace lines that are counted.
# With several devices the fork's QEMU has a QMP monitor
# (tests/nested/l1-qmp.sh): qmp COMMAND prints every line up to the
# reply after "QMP| ".
qmp_start() {
    qmp_open "QMP| " || fail "QMP: no reply to qmp_capabilities"
}
qmp() {
    qmp_start
    qmp_command "QMP| " "$1" || fail "QMP: no reply to $1"
}
# At the end, each device's totals (count 1: not 2048 vectors' worth)
qmp_totals() {
    local n=0 bdf
    for bdf in $devices; do
        n=$((n + 1))
        qmp "{\"execute\": \"x-query-msix\", \"arguments\": {\"device\": \"td$n\", \"count\": 1}}"
    done
}
# The ivshmem run's servers hold eventfds back until the payload's marks
# (payload/ivshmem-server.c): one more for each line on their FIFO.
ivshmem_at_mark() {
    case "$1" in
    iv-late) echo > /tmp/iv0.ctl ;;
    iv-late2) echo > /tmp/iv3.ctl ;;
    esac
}
# A refusal run (vmsix.refuse=MARK/IOCTL/COUNT/RESULT[,...]): L1's QEMU
# runs under vmsix-refuse (payload/refuse.c), told at the payload's mark
# MARK to make the host refuse QEMU's next COUNT calls of IOCTL with
# RESULT.  One rule at a time, each armed before the payload goes on.
# The answers come on fd 5, held open for them from the start.
refuse_at_mark() {
    local rule ack
    for rule in $(echo "$refuse" | tr , ' '); do
        [ "${rule%%/*}" = "$1" ] || continue
        rule=${rule#*/}
        echo "$rule" | tr / ' ' > /tmp/refuse.ctl
        read -r ack <&5
        [ "$ack" = ok ] || fail "vmsix-refuse did not take the rule '$rule': $ack"
    done
}
qmp_at_mark() {
    [ -n "$qmp_on" ] || return 0
    case "$1" in
    a) qmp_start ;;
    end) qmp_totals ;;
    esac
}

relay() {
    local held=
    while IFS= read -r line; do
        line=$held${line%"$cr"}
        held=
        # QEMU writes the console a character at a time and a trace line
        # whole, into this one pipe: the PBA trap's deferred untrap,
        # traced from a timer, can land inside a console line.  Take it
        # out; the console line goes on on the next line read.
        case "$line" in
        ?*vfio_msix_pba_*)
            held=${line%%vfio_msix_pba_*}
            line=vfio_msix_pba_${line#*vfio_msix_pba_}
            ;;
        esac
        echo "L2| $line"
        case "$line" in
        VMSIX-MARK\ *)
            echo "$line" > $tr/trace_marker
            [ "$profile" != 2 ] || profile_syscalls_at "${line#VMSIX-MARK }"
            qmp_at_mark "${line#VMSIX-MARK }"
            [ -z "$refuse" ] || refuse_at_mark "${line#VMSIX-MARK }"
            [ -z "$ivshmem" ] || ivshmem_at_mark "${line#VMSIX-MARK }"
            echo >&3 ;;
        *msix_eventfds_replay\ *) echo VMSIX-REPLAY > $tr/trace_marker ;;
        *vfio_msix_pba_disable\ *) echo VMSIX-PBA-UNTRAPPED > $tr/trace_marker ;;
        *vfio_msix_pba_enable\ *) echo VMSIX-PBA-TRAPPED > $tr/trace_marker ;;
        esac
    done
}

# One line a window, in order, summed over windows of the same name.
count_windows() {
    local lost
    echo 0 > $tr/events/syscalls/sys_enter_ioctl/enable
    # Nothing may have been dropped: "entries-in-buffer/entries-written: N/N"
    lost=$(sed -n 's/^# entries-in-buffer\/entries-written: \([0-9]*\)\/\([0-9]*\).*/\1 \2/p' $tr/trace |
        awk '{ print $2 - $1 }')
    say "ioctl-trace lost ${lost:-unknown}"
    awk -v ioctls="$IOCTLS" "$AWK_IOCTLS"'
    BEGIN {
        n = ioctl_names(ioctls)
        names[n + 1] = "replay"
        names[n + 2] = "pba_untrapped"
        names[n + 3] = "pba_trapped"
    }
    /tracing_mark_write: VMSIX-MARK / {
        win = $NF
        if (!(win in seen)) { seen[win] = 1; order[++nwin] = win }
        next
    }
    win != "" && /tracing_mark_write: VMSIX-REPLAY/ { count[win, n + 1]++; next }
    win != "" && /tracing_mark_write: VMSIX-PBA-UNTRAPPED/ { count[win, n + 2]++; next }
    win != "" && /tracing_mark_write: VMSIX-PBA-TRAPPED/ { count[win, n + 3]++; next }
    win != "" && /sys_ioctl\(/ && match($0, /cmd: (0x)?[0-9a-f]+/) {
        c = hex(substr($0, RSTART + 5, RLENGTH - 5))
        if (c in cmd) { count[win, cmd[c]]++ }
    }
    END {
        for (w = 1; w <= nwin; w++) {
            printf "PAYLOAD-WINDOW %s", order[w]
            for (i = 1; i <= n + 3; i++) {
                printf " %s %d", names[i], count[order[w], i] + 0
            }
            printf "\n"
        }
    }' $tr/trace
}

# ivshmem_server NAME VECTORS NOW LATER [OPTIONS [SHARED]]: an
# ivshmem-doorbell NAME with VECTORS vectors for L2, whose server sends
# NOW of its eventfds at once and LATER more, one at each line on
# /tmp/NAME.ctl, each to two vectors with SHARED=shared.
ivshmem_server() {
    mkfifo "/tmp/$1.ctl"
    # shellcheck disable=SC2086
    /bin/vmsix-ivshmem-server "/tmp/$1.sock" "/tmp/$1.ctl" "$3" "$4" ${6:-} \
        >"/tmp/$1.log" 2>&1 || fail "ivshmem server $1: $(cat "/tmp/$1.log")"
    ivshmem_args="$ivshmem_args -chardev socket,id=$1c,path=/tmp/$1.sock -device ivshmem-doorbell,id=$1,chardev=$1c,vectors=$2$5"
}

ivshmem= ivshmem_args=
[ "$(arg ivshmem)" = 1 ] && ivshmem=1
if [ -n "$ivshmem" ]; then
    # iv0: payload's iv-late (two eventfds, one late, one never); iv1,
    # iv2: their routes fill KVM's table; iv3: iv-refused, whose routes
    # KVM has no room for (three eventfds, one late); iv4: iv-shared,
    # one eventfd for vectors 0 and 1, one for 2 and 3
    ivshmem_server iv0 4 2 1
    # (never rung: no ioeventfd for each of their 4096 eventfds)
    ivshmem_server iv1 2048 2048 0 ,ioeventfd=off
    ivshmem_server iv2 2048 2048 0 ,ioeventfd=off
    ivshmem_server iv3 4 3 1
    ivshmem_server iv4 4 4 0 "" shared
    say "ivshmem servers up"
fi

# The payload's deadlines and raiser period are widened for L2 on KVM on
# TCG: it is much slower than a direct run, not differently correct.
l2args="vmsix.marks=ack vmsix.expect=$(arg vectors) vmsix.wait_ms=30000 vmsix.quiet_ms=300 vmsix.auto_us=$(arg auto_us) vmsix.watchdog=$(arg watchdog)"
# scenario g's samples, when the host driver sets them
for o in g_pairs g_raises g_toggles; do
    [ -z "$(arg $o)" ] || l2args="$l2args vmsix.$o=$(arg $o)"
done
only=$(arg only)
[ -z "$only" ] || l2args="$l2args vmsix.only=$only"

# The libvirt run: libvirt binds the device and starts L2 itself
# (payload/l1-libvirt.sh)
if [ "$(arg libvirt)" = 1 ]; then
    # shellcheck source=tests/nested/payload/l1-libvirt.sh
    . /etc/nested/l1-libvirt.sh
    finish 0
fi

# Every msix-testdev L0 has (vmsix.devices, one unless a run asks for
# more), each behind a root port of its own in L2.
devices=
for d in /sys/bus/pci/devices/*; do
    [ "$(cat "$d/vendor"):$(cat "$d/device")" = 0x1b36:0x00f0 ] || continue
    bdf=${d##*/}
    nested_bind_vfio "$bdf"
    say "bound $bdf group=$group"
    devices="$devices $bdf"
done
# shellcheck disable=SC2086
set -- $devices
if [ -z "$ivshmem" ]; then
    [ $# -gt 0 ] || fail "no msix-testdev"
    [ $# = "$(arg devices)" ] || fail "$# msix-testdevs, not $(arg devices)"
fi

# Scenario l's last variant needs a second vCPU, which owns the vLPI
# while the first masks its vector; the other scenarios run on one (the
# second stays off until l starts it with PSCI CPU_ON).
smp=1
case "${only:-l}" in *l*) smp=2 ;; esac
# The traces of vfio-pci's MSI-X set-up (NESTED_L1_TRACE)
trace=$NESTED_L1_TRACE
[ "$(arg flavor)" = fork ] && trace=$NESTED_L1_TRACE_FORK
# shellcheck disable=SC2086
set -- -accel kvm -M virt,gic-version=3 -cpu host -smp $smp -m 256M \
    -nodefaults -display none -no-reboot -serial stdio \
    -kernel /l2/payload.img -append "$l2args" $trace $ivshmem_args
n=0
for bdf in $devices; do
    n=$((n + 1))
    set -- "$@" -device "pcie-root-port,id=rp$n,chassis=$n" \
        -device "vfio-pci,host=$bdf,bus=rp$n,id=td$n$(arg vfio)"
done
refuse=$(arg refuse) launcher=
if [ -n "$refuse" ]; then
    mkfifo /tmp/refuse.ctl /tmp/refuse.ack
    exec 5<>/tmp/refuse.ack
    launcher="/bin/vmsix-refuse /tmp/refuse.ctl /tmp/refuse.ack"
fi
qmp_on=
if [ "$(arg flavor)" = fork ] && { [ "$(arg devices)" != 1 ] || [ -n "$refuse" ]; }; then
    qmp_on=1
    # shellcheck disable=SC2046
    set -- "$@" $(qmp_monitor_args)
fi
# The fork also traces each pending MSI it hands to KVM at an unmask,
# when it stops and starts trapping the PBA, and whether it resends
# MSIs for vLPIs the host may drop (GICv4).  Only what is counted: a
# trace line costs the QEMU measured a write, and L1 the relay's work,
# and the untrap's deferral comes at every unmask.
[ "$(arg flavor)" = fork ] &&
    set -- "$@" -trace msix_eventfds_replay -trace vfio_msix_pba_enable \
        -trace vfio_msix_pba_disable \
        -trace 'msix_eventfds_vlpi_*'
# ...and, with several devices or refusals, each vector it serves
# itself, each host refusal and each time it asks the host again.
[ -n "$qmp_on" ] &&
    set -- "$@" -trace msix_eventfds_fallback \
        -trace vfio_msix_engine_host_refused \
        -trace vfio_msix_engine_host_retry

# The fork keeps an eventfd per vector: three devices of 2048 need more
# than the 4096 files a process gets from the kernel by default (systemd
# and libvirt give QEMU far more).
ulimit -n 65536 || fail "ulimit -n 65536"
say "qemu $*"
trace_ioctls
mkfifo /tmp/l2-input
exec 3<>/tmp/l2-input
cr=$(printf '\r')
# QEMU's stdout and stderr go into one pipe, in the order QEMU writes
# them, but each opened on its own: QEMU makes its -serial stdio output
# non-blocking, and a stderr sharing that open file would drop trace
# lines (EAGAIN) whenever the relay falls behind.
mkfifo /tmp/l2-output
relay < /tmp/l2-output &
relay_pid=$!
# shellcheck disable=SC2086
$launcher /bin/qemu-system-aarch64 "$@" <&3 >/tmp/l2-output 2>/tmp/l2-output
echo $? > /tmp/l2.rc
wait $relay_pid
say "l2-exit $(cat /tmp/l2.rc)"
count_windows
[ -z "$profile" ] || profile_windows
dmesg | grep -iE 'vfio|smmu|its' | tail -n 10 | sed 's/^/L1-DMESG-END| /'
# Whether KVM forwards MSIs to L2 as vLPIs (VMSIX_PAYLOAD_GIC=4)
dmesg | grep -m1 -E 'kvm \[[0-9]+\]: GICv4(\.1)? support' | sed 's/^/L1-DMESG-END| /'
finish 0
