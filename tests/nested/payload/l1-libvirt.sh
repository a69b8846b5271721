# shellcheck shell=sh
# L1's part of the payload's libvirt run (tests/nested/payload/nested.sh
# libvirt FLAVOR, docs/devel/vmsix-nested.rst): sourced by
# payload/l1-init.sh with vmsix.libvirt=1, after the modules are loaded.
#
# trixie's libvirtd (vmsix/guest-assets.sh debian-libvirt) runs without
# systemd, virtlogd or any security driver, cgroup or namespace, and
# starts the payload as L2 from a domain XML whose <emulator> is the QEMU
# under test and whose <hostdev managed='yes'> is L0's msix-testdev,
# which libvirt binds to vfio-pci itself.  With vmsix.libvirt_l2=e1000e
# the device is L0's e1000e instead and L2 the nested harness's Linux
# (tests/nested/l2-init.sh, scenario e1000e), which takes a DHCP lease
# over it.  With vmsix.refuse=MARK/IOCTL/COUNT/RESULT the domain's
# <emulator> runs the QEMU under test under vmsix-refuse, armed at the
# payload's mark as in payload/l1-init.sh, so that the fork reports a
# refusal as a QMP event.  L2's console is a pipe that L1 relays as in
# payload/l1-init.sh; at the payload's marks (the Linux's sync points:
# before and after its traffic) L1 records what the host driver checks:
#   LIBVIRT-QUERY TAG LINE      virsh qemu-monitor-command --pretty
#                               DOMAIN x-query-msix, line by line
#   LIBVIRT-COMMANDS TAG N      1 if query-commands lists x-query-msix
#   LIBVIRT-IRQS TAG N...       L1's vfio-msix interrupts of the device,
#                               per vector (0 before MSI-X is on)
# TAG is the mark (a: before scenario a enables MSI-X, b: after it, all
# vectors unmasked and raised; end: after b's masked vector; for the
# Linux, before and after its lease), and at the
# end the device's driver and libvirtd's open files before, during and
# after the domain, and every QMP event that virsh qemu-monitor-event
# saw (the domain starts paused, and runs only once virsh listens, but
# for the probes that show it does) to its end:
#   LIBVIRT-EVENT LINE          what virsh qemu-monitor-event printed
#   LIBVIRT-DRIVER WHEN NAME    (none: no driver)
#   LIBVIRT-FDS WHEN N
# Every step that fails ends L1 with FAIL.

LV_DOM=vmsix-l2
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export LIBVIRT_DEFAULT_URI='qemu:///system?socket=/run/libvirt/libvirt-sock'

lv_driver() {
    if [ -e "/sys/bus/pci/devices/$1/driver" ]; then
        basename "$(readlink "/sys/bus/pci/devices/$1/driver")"
    else
        echo none
    fi
}
lv_fds() { ls "/proc/$lv_pid/fd" | wc -l; }
lv_fail() { sed 's/^/LIBVIRTD| /' /tmp/libvirtd.log; fail "$@"; }

# lv_wait_quiet SECONDS COMMAND...: poll COMMAND (a quiet one) every
# 0.1 s until it succeeds (status 0) or SECONDS have passed (status 1)
lv_wait_quiet() {
    local n=$(($1 * 10))
    shift
    while ! "$@"; do
        n=$((n - 1))
        [ $n -gt 0 ] || return 1
        sleep 0.1
    done
}
# lv_wait WHAT SECONDS COMMAND...: the same, failing L1 on the timeout
lv_wait() {
    local what=$1 secs=$2
    shift 2
    lv_wait_quiet "$secs" "$@" && return 0
    sed 's/^/LIBVIRTD| /' /tmp/libvirtd.log
    fail "libvirt: no $what within ${secs}s"
}

# lv_record TAG: the query, whether the command exists, and L1's counts
lv_record() {
    local out rc=0 line irqs v c
    out=$(virsh qemu-monitor-command --pretty "$LV_DOM" \
        "{\"execute\": \"x-query-msix\", \"arguments\": {\"device\": \"$LV_ALIAS\"}}" 2>&1) || rc=$?
    echo "$out" | while IFS= read -r line; do echo "LIBVIRT-QUERY $1 $line"; done
    say "libvirt query $1 virsh-status $rc"
    out=$(virsh qemu-monitor-command "$LV_DOM" '{"execute": "query-commands"}' 2>&1) ||
        fail "libvirt: query-commands: $out"
    case "$out" in
    *'"name":"x-query-msix"'*) echo "LIBVIRT-COMMANDS $1 1" ;;
    *) echo "LIBVIRT-COMMANDS $1 0" ;;
    esac
    irqs=
    v=0
    while [ $v -lt "$lv_vectors" ]; do
        # "IRQ: CPU0 CPU1 ... chip hwirq edge vfio-msix[V](BDF)"
        c=$(awk -v n="vfio-msix[$v]($lv_bdf)" '$NF == n {
                s = 0
                for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) s += $i
                print s
            }' /proc/interrupts)
        irqs="$irqs ${c:-0}"
        v=$((v + 1))
    done
    echo "LIBVIRT-IRQS $1$irqs"
}

# lv_relay ON_LINE: L2's console, each line prefixed and handed to
# ON_LINE, until ON_LINE says the run is over (status 1), with L2 waiting
# for an acknowledgement, and L1 destroys the domain under it
lv_relay() {
    local line
    while IFS= read -r line; do
        line=${line%"$cr"}
        echo "L2| $line"
        "$1" "$line" || return 0
    done
    fail "libvirt: L2's console closed before the run's end"
}
# The payload's marks: each recorded and acknowledged; over at "end"
lv_payload_line() {
    local m
    case "$1" in
    VMSIX-MARK\ *)
        m=${1#VMSIX-MARK }
        # a, the first b (scenario b marks b again at its end), end
        case " $lv_seen " in *" $m "*) ;; *)
            lv_seen="$lv_seen $m"
            case "$m" in a|b|end) lv_record "$m" ;; esac ;;
        esac
        [ "$m" = end ] && return 1
        [ -z "$refuse" ] || refuse_at_mark "$m"
        echo >&3 || fail "libvirt: L2 took no acknowledgement at $m" ;;
    esac
}
# The Linux L2's sync points (vmsix.libvirt_l2=e1000e): each recorded and
# acknowledged; over at "after" (the lease taken)
lv_linux_line() {
    local tag
    case "$1" in
    *NESTED-L2-SYNC\ *)
        tag=${1##*NESTED-L2-SYNC }
        lv_record "$tag"
        [ "$tag" = after ] && return 1
        echo >&3 || fail "libvirt: L2 took no acknowledgement at $tag" ;;
    *NESTED-L2\ FAIL\ *) fail "libvirt: L2 failed: ${1#*NESTED-L2 FAIL }" ;;
    esac
}

lv_l2=$(arg libvirt_l2)
case "${lv_l2:=payload}" in
payload) LV_ALIAS=ua-td0 lv_id=0x1b36:0x00f0 lv_vectors=$(arg vectors) lv_on_line=lv_payload_line ;;
e1000e) LV_ALIAS=ua-nic0 lv_id=0x8086:0x10d3 lv_vectors=$(arg vectors) lv_on_line=lv_linux_line ;;
*) fail "libvirt: unknown L2 '$lv_l2'" ;;
esac
lv_seen=
lv_bdf=
for d in /sys/bus/pci/devices/*; do
    [ "$(cat "$d/vendor"):$(cat "$d/device")" = "$lv_id" ] || continue
    lv_bdf=${d##*/}
done
[ -n "$lv_bdf" ] || fail "no PCI device $lv_id"
# L1's kernel puts a PCI device in its SMMU's IOMMU group only when a
# driver first binds it (dma_configure at probe), and libvirt refuses
# passthrough on a host without IOMMU groups: bind it to vfio-pci once
# and unbind it, which leaves it without a driver, as libvirt finds it.
lv_sys=/sys/bus/pci/devices/$lv_bdf
echo vfio-pci > "$lv_sys/driver_override"
echo "$lv_bdf" > /sys/bus/pci/drivers_probe
[ -e "$lv_sys/iommu_group" ] || fail "$lv_bdf is in no IOMMU group once bound"
echo "$lv_bdf" > "$lv_sys/driver/unbind"
echo > "$lv_sys/driver_override"
say "libvirt device $lv_bdf group=$(basename "$(readlink "$lv_sys/iommu_group")")"
echo "LIBVIRT-DRIVER before $(lv_driver "$lv_bdf")"

# What a libvirt host has and L1's initramfs has not
mkdir -p /etc/libvirt/qemu /run/libvirt /var/lib/libvirt/qemu \
    /var/cache/libvirt/qemu /var/log/libvirt/qemu /var/run /dev/pts /dev/shm
# libvirt looks up its built-in default user (Debian's libvirt-qemu)
# before it reads qemu.conf's user
printf 'root:x:0:0:root:/root:/bin/sh\nlibvirt-qemu:x:64055:64055::/var/lib/libvirt:/bin/false\n' > /etc/passwd
printf 'root:x:0:\nkvm:x:64054:\nlibvirt-qemu:x:64055:\n' > /etc/group
mount -t devpts devpts /dev/pts 2>/dev/null || true
mount -t tmpfs tmpfs /dev/shm || fail "mount /dev/shm"
cat > /etc/libvirt/libvirtd.conf <<'EOF'
auth_unix_ro = "none"
auth_unix_rw = "none"
log_outputs = "2:stderr"
keepalive_interval = -1
EOF
cat > /etc/libvirt/qemu.conf <<'EOF'
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
stdio_handler = "file"
user = "root"
group = "root"
remember_owner = 0
EOF

# No keepalive, on either side: under TCG libvirtd may not answer a
# probe for longer than its 30 s (seen at virsh destroy), which ends the
# connection with the call still running
virsh() { command virsh -k 0 "$@"; }

# L2's console: QEMU opens the pipe's two FIFOs itself (-chardev pipe)
mkfifo /tmp/l2.in /tmp/l2.out
libvirtd -f /etc/libvirt/libvirtd.conf > /tmp/libvirtd.log 2>&1 &
lv_pid=$!
# libvirtd probes the QEMUs it finds before it listens
lv_sock_or_gone() { [ -S /run/libvirt/libvirt-sock ] || ! kill -0 "$lv_pid"; }
lv_wait "libvirtd socket" 600 lv_sock_or_gone
kill -0 "$lv_pid" 2>/dev/null || lv_fail "libvirtd exited"
lv_virsh_up() { virsh version >/dev/null 2>&1; }
lv_wait "libvirtd answer" 120 lv_virsh_up
say "libvirt $(virsh version 2>&1 | sed -n 's/^Using library: //p')"

cr=$(printf '\r')
bus=${lv_bdf#*:}
slot=${bus#*:}
fn=${slot#*.}
slot=${slot%.*}
bus=${bus%%:*}
emulator=/bin/qemu-system-aarch64
# A refusal run: libvirt starts the QEMU under test under vmsix-refuse,
# which the payload's marks arm (refuse_at_mark, payload/l1-init.sh).
# libvirt's probe of its capabilities (a QEMU that daemonizes, which
# vmsix-refuse would not outlive) runs it directly.
refuse=$(arg refuse)
if [ -n "$refuse" ]; then
    mkfifo /tmp/refuse.ctl /tmp/refuse.ack
    exec 5<>/tmp/refuse.ack
    emulator=/bin/qemu-system-aarch64-refused
    cat > $emulator <<'EOF'
#!/bin/sh
case " $* " in
*' -daemonize '*) exec /bin/qemu-system-aarch64 "$@" ;;
esac
exec /bin/vmsix-refuse /tmp/refuse.ctl /tmp/refuse.ack /bin/qemu-system-aarch64 "$@"
EOF
    chmod +x $emulator
fi
case "$lv_l2" in
payload)
    lv_boot="<kernel>/l2/payload.img</kernel>
    <cmdline>$l2args</cmdline>" ;;
e1000e)
    lv_boot="<kernel>/l2/Image</kernel>
    <initrd>/l2/initrd.cpio</initrd>
    <cmdline>console=ttyAMA0 rdinit=/init panic=-1 quiet vmsix.scenario=e1000e</cmdline>" ;;
esac
cat > /tmp/$LV_DOM.xml <<EOF
<domain type='kvm'>
  <name>$LV_DOM</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='aarch64' machine='virt'>hvm</type>
    $lv_boot
  </os>
  <features>
    <gic version='3'/>
  </features>
  <cpu mode='host-passthrough'/>
  <devices>
    <emulator>$emulator</emulator>
    <controller type='usb' model='none'/>
    <hostdev mode='subsystem' type='pci' managed='yes'>
      <source>
        <address domain='0x0000' bus='0x$bus' slot='0x$slot' function='0x$fn'/>
      </source>
      <alias name='$LV_ALIAS'/>
    </hostdev>
    <serial type='pipe'>
      <source path='/tmp/l2'/>
    </serial>
    <memballoon model='none'/>
  </devices>
</domain>
EOF
sed 's/^/LIBVIRT-XML /' /tmp/$LV_DOM.xml
out=$(virsh define /tmp/$LV_DOM.xml 2>&1) || lv_fail "virsh define: $out"
say "libvirt define: $out"
lv_fds_defined=$(lv_fds)
echo "LIBVIRT-FDS defined $lv_fds_defined"
out=$(virsh start --paused "$LV_DOM" 2>&1) || {
    sed 's/^/LIBVIRT-QEMU-LOG /' "/var/log/libvirt/qemu/$LV_DOM.log"
    lv_fail "virsh start: $out"
}
say "libvirt start: $out"
# virsh qemu-monitor-event listens once it has registered with libvirtd,
# which it does not say; the events of a resume and a suspend of the
# paused domain, printed, say it.  The guest runs only for such probes
# (under a second each) until virsh listens, and from then on.  (virsh
# itself, not the virsh() function's subshell, so that $! is its pid.)
command virsh -k 0 qemu-monitor-event "$LV_DOM" --loop > /tmp/events.log 2>&1 &
lv_ev_pid=$!
lv_listening() { grep -qE '^event (RESUME|STOP) ' /tmp/events.log; }
lv_probe() {
    out=$(virsh resume "$LV_DOM" 2>&1) || lv_fail "virsh resume: $out"
    out=$(virsh suspend "$LV_DOM" 2>&1) || lv_fail "virsh suspend: $out"
    lv_wait_quiet 2 lv_listening
}
lv_probes=1
until lv_probe; do
    kill -0 "$lv_ev_pid" 2>/dev/null || lv_fail "virsh qemu-monitor-event: $(cat /tmp/events.log)"
    [ $lv_probes -lt 15 ] || lv_fail "virsh qemu-monitor-event printed no event in 15 probes"
    lv_probes=$((lv_probes + 1))
done
out=$(virsh resume "$LV_DOM" 2>&1) || lv_fail "virsh resume: $out"
say "libvirt events: listening after $lv_probes probes"
echo "LIBVIRT-DRIVER running $(lv_driver "$lv_bdf")"
say "libvirt device $lv_bdf group=$(basename "$(readlink "/sys/bus/pci/devices/$lv_bdf/iommu_group")")"
echo "LIBVIRT-FDS running $(lv_fds)"
sed -n 's/^/LIBVIRT-CMDLINE /p' "/var/log/libvirt/qemu/$LV_DOM.log" | grep -- '-device' | tail -n 3 || true

exec 3>/tmp/l2.in
lv_relay "$lv_on_line" < /tmp/l2.out
# libvirt waits a fixed time for QEMU to die after SIGKILL and says
# "Device or resource busy" if it has not (which a zombie QEMU no one
# reaps looks like, see lv_destroy); virsh destroy is then to be
# repeated, as libvirt documents, until it succeeds or says the domain,
# which QEMU's exit ended, is not running
lv_busy=
lv_destroy() {
    # libvirt's QEMU is this shell's (PID 1's) orphan, and a zombie
    # until the shell waits: virsh runs in the background so that it
    # does while libvirt waits for QEMU to go
    virsh destroy "$LV_DOM" > /tmp/destroy.out 2>&1 &
    if wait $!; then
        out=$(cat /tmp/destroy.out)
        return 0
    fi
    out=$(cat /tmp/destroy.out)
    say "libvirt destroy: $out"
    case "$out" in
    *'Device or resource busy'*) lv_busy=1; return 1 ;;
    *'domain is not running'*) [ -n "$lv_busy" ] && return 0 ;;
    esac
    lv_fail "virsh destroy: $out"
}
lv_wait "virsh destroy" 300 lv_destroy
say "libvirt destroy: $out"
# virsh ends its event loop at SIGINT (its own handler: a background
# job's SIGINT is ignored only until it installs it), with what it
# printed flushed, and closes its connection to libvirtd
kill -INT "$lv_ev_pid"
lv_ev_gone() { ! kill -0 "$lv_ev_pid" 2>/dev/null; }
lv_wait_quiet 10 lv_ev_gone || kill -KILL "$lv_ev_pid"
wait "$lv_ev_pid" || true
exec 3>&-
# libvirt gives the device back after QEMU is gone: poll for it
lv_back() { [ "$(lv_driver "$lv_bdf")" != vfio-pci ]; }
lv_wait "$lv_bdf leaves vfio-pci" 60 lv_back
echo "LIBVIRT-DRIVER destroyed $(lv_driver "$lv_bdf")"
echo "LIBVIRT-OVERRIDE destroyed $(cat "/sys/bus/pci/devices/$lv_bdf/driver_override")"
# libvirtd closes the domain's files as it handles QEMU's end: poll
# for its count to come back to what it was before the start, and
# record it either way (the host driver checks it)
lv_fds_back() { [ "$(lv_fds)" = "$lv_fds_defined" ]; }
lv_wait_quiet 30 lv_fds_back
echo "LIBVIRT-FDS destroyed $(lv_fds)"
out=$(virsh domstate "$LV_DOM" 2>&1) || fail "virsh domstate: $out"
say "libvirt domstate after destroy: $out"
echo "LIBVIRT-DOMSTATE destroyed $out"
sed 's/^/LIBVIRT-EVENT /' /tmp/events.log
sed 's/^/LIBVIRT-QEMU-LOG /' "/var/log/libvirt/qemu/$LV_DOM.log"
sed 's/^/LIBVIRTD| /' /tmp/libvirtd.log
kill "$lv_pid"
