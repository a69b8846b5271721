#!/bin/busybox sh
# /init of L2, the KVM guest of the nested harness, which owns the
# passed-through device: load its driver, count its MSI-X interrupts
# before and after some traffic, and power off.  At "NESTED-L2-SYNC TAG"
# it waits for L1 (which reads its own counts) to answer on the console.
. /etc/nested/scenarios.sh
nested_guest_init NESTED-L2

sync_l1() {
    echo "NESTED-L2-SYNC $1"
    # shellcheck disable=SC3045 # busybox's read has -t
    read -r -t 60 _ack || fail "no answer from L1 at $1"
}

# The device's MSI-X (or MSI) lines: chip ITS-PCI-MSIX-<BDF> (or
# ITS-PCI-MSI-<BDF>) from Linux 6.8 on, ITS-MSI before.
msix_lines() {
    grep -E "ITS-PCI-MSIX?-$bdf |ITS-MSI " /proc/interrupts
}
sum_lines() {   # sum of the CPU columns of /proc/interrupts lines on stdin
    awk '{ for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) s += $i } END { print s + 0 }'
}

# "round N": where round N of a scenario's traffic starts in L1's trace
# of its QEMU.  L1 answers once its QEMU has written the line, and the
# round starts only then: write() to the console returns before the
# kernel has sent the line (Linux 7.3 in L2 sent it late enough, now and
# then, that the first ioctls of a link flap came before the marker and
# counted for the round before).
mark_round() {
    say "round $1"
    # shellcheck disable=SC3045 # busybox's read has -t
    read -r -t 60 _ack || fail "no answer from L1 at round $1"
}

wait_for() {    # wait_for COMMAND...: until it succeeds, up to 30 s
    wait_up_to 30 "$@"
}
# Its variables are its own: callers loop with i and n.
wait_up_to() {  # wait_up_to SECONDS COMMAND...
    wait_tenths=$(($1 * 10))
    shift
    wait_done=0
    while ! "$@"; do
        wait_done=$((wait_done + 1))
        [ $wait_done -le $wait_tenths ] || return 1
        sleep 0.1
    done
}

# The device's network interface (virtio-net's is under virtioN/).
net_if() {
    for netdir in "$dev"/net/* "$dev"/virtio*/net/*; do
        [ -e "$netdir" ] && { basename "$netdir"; return 0; }
    done
    return 1
}

# The traffic of the scenarios; they return non-zero on failure.
dhcp() {
    wait_up_to 60 net_if || { say "FAIL no network interface on $bdf"; return 1; }
    ifc=$(net_if)
    say "interface $ifc"
    # udhcpc leaves the link to its script, which is /bin/true here.
    ip link set "$ifc" up || { say "FAIL ip link set $ifc up"; return 1; }
    if udhcpc -i "$ifc" -n -q -t 10 -T 1 -s /bin/true >/tmp/udhcpc.log 2>&1; then
        say "dhcp ok"
    else
        sed 's/^/udhcpc: /' /tmp/udhcpc.log
        say "FAIL no DHCP lease on $ifc"
        return 1
    fi
}

carrier_up() { [ "$(cat "/sys/class/net/$ifc/carrier" 2>/dev/null)" = 1 ]; }

# After a lease, take the link down and up NESTED_FLAPS times; after each
# round the gateway must answer ARP.  "round N" marks where each round
# starts in L1's trace of its QEMU.
flap() {
    dhcp || return 1
    ip addr add 10.0.2.15/24 dev "$ifc" || { say "FAIL ip addr add"; return 1; }
    # The fork's counters before and after the rounds (SCN_QMP)
    sync_l1 qmp-rounds-start
    n=1
    while [ $n -le "$NESTED_FLAPS" ]; do
        mark_round "$n"
        { ip link set "$ifc" down && ip link set "$ifc" up; } ||
            { say "FAIL round $n: ip link"; return 1; }
        wait_for carrier_up || { say "FAIL round $n: no carrier"; return 1; }
        arping -q -c 2 -w 10 -I "$ifc" 10.0.2.2 ||
            { say "FAIL round $n: no ARP reply from 10.0.2.2"; return 1; }
        n=$((n + 1))
    done
    say "rounds done"
    sync_l1 qmp-rounds-end
    # A lost interrupt shows as a transmit timeout or a hang report
    dmesg | grep -E 'NETDEV WATCHDOG|Hardware Unit Hang|Reset adapter' |
        sed 's/^/L2-DMESG| /'
    say "flap ok $NESTED_FLAPS"
}

# The kind of vectors Linux gave the device: "msix ", "msi " or "intx "
irq_kind() {
    kinds=$(cat "$dev"/msi_irqs/* 2>/dev/null | sort -u | tr '\n' ' ')
    echo "${kinds:-intx }"
}

# int-modes: DHCP with MSI-X, then e1000e reloaded with MSI, INTx and
# MSI-X again, DHCP each time.  Each reload makes L1's vfio-pci turn the
# previous mode off in the host and the next one on.
int_modes() {
    dhcp || return 1
    say "intmode first $(irq_kind)ok"
    for m in $NESTED_INT_MODES; do
        rmmod e1000e || { say "FAIL rmmod e1000e"; return 1; }
        modprobe e1000e IntMode="${m%:*}" ||
            { say "FAIL modprobe e1000e IntMode=${m%:*}"; return 1; }
        wait_for test -e "$dev/driver" || { say "FAIL $bdf has no driver"; return 1; }
        dhcp || { say "FAIL no lease with IntMode=${m%:*}"; return 1; }
        # What e1000e said of its interrupts (it falls back to INTx when
        # its MSI test interrupt does not arrive)
        dmesg | grep -iE 'e1000e.*(interrupt|msi)' | tail -n 2 | sed 's/^/L2-DMESG| /'
        # e1000e requests its interrupts when the link goes up
        say "intmode ${m%:*} $(irq_kind)ok"
    done
    say "int-modes ok"
}

# lifecycle: the Slot Control register (PCIe capability + 0x18) of the
# port above the device ($port), and whether its Hot-Plug Interrupt
# Enable is set
port_sltctl() {
    p=$(port_byte 52)
    while [ "$p" -ne 0 ] && [ "$(port_byte "$p")" -ne 16 ]; do
        p=$(port_byte $((p + 1)))
    done
    od -An -tu2 -j$((p + 24)) -N2 "$port/config" | tr -d ' '
}
port_byte() { od -An -tu1 -j"$1" -N1 "$port/config" | tr -d ' '; }
port_hp_irq_on() { [ $(($(port_sltctl) & 0x20)) != 0 ]; }
port_state() {
    printf 'runtime %s, slot control 0x%04x' "$(cat "$port/power/runtime_status")" "$(port_sltctl)"
}
slot_off() { [ "$(cat /sys/bus/pci/slots/*/power 2>/dev/null)" = 0 ]; }

# lifecycle: DHCP, then L1 resets L2 (system_reset); after the second
# boot, DHCP, hot-unplug, hot-plug, DHCP.  L1 numbers the boots and runs
# the monitor commands that L2 asks for with "NESTED-L2-HMP WHAT".
lifecycle() {
    echo "NESTED-L2-SYNC boot"
    # shellcheck disable=SC3045 # busybox's read has -t
    read -r -t 60 boot || { say "FAIL no boot number from L1"; return 1; }
    say "boot $boot"
    dhcp || return 1
    if [ "$boot" = 1 ]; then
        echo "NESTED-L2-HMP reset"
        sleep 120
        say "FAIL L1 did not reset L2"
        return 1
    fi
    unplug_replug || return 1
    if ! dhcp; then
        # What the kernel said of the slot and the device since the plug
        dmesg | grep -iE 'pciehp|e1000e|01:00' | tail -n 20 | sed 's/^/L2-DMESG| /'
        return 1
    fi
    say "lifecycle ok"
}

# lifecycle and storm: L1 hot-unplugs the device, then plugs it again
unplug_replug() {
    port=$(dirname "$(readlink -f "$dev")")
    echo "NESTED-L2-HMP unplug"
    # pciehp powers the slot off 5 s after the attention button
    wait_for test ! -e "$dev" || { say "FAIL $bdf still present"; return 1; }
    wait_for slot_off || { say "FAIL the slot of $bdf stays powered"; return 1; }
    say "unplugged $bdf"
    # Linux 7.3 (not 6.12) runtime-suspends the emptied port, for which
    # pciehp turns the port's hot-plug interrupt off (Slot Control's
    # HPIE and DLLSCE) and counts on a PME to wake it at the next plug:
    # QEMU's pcie-root-port sends none, so the plug went unseen and the
    # device never came back.  Keep the port awake, its interrupt on.
    say "port after the unplug: $(port_state)"
    echo on > "$port/power/control"
    wait_for port_hp_irq_on ||
        { say "FAIL the hot-plug interrupt of $port stays off ($(port_state))"; return 1; }
    say "port awake: $(port_state)"
    # L1 adds it again once its QEMU has finished the unplug
    echo "NESTED-L2-HMP replug"
    # L1's QEMU opens the device again and maps L2's memory for it
    if ! wait_up_to 120 test -e "$dev/driver"; then
        dmesg | grep -iE 'pciehp|e1000e|01:00' | tail -n 20 | sed 's/^/L2-DMESG| /'
        say "port: $(port_state)"
        say "FAIL $bdf did not come back"
        return 1
    fi
    say "replugged $bdf driver=$(basename "$(readlink "$dev/driver")")"
}

# storm: a lease and L0's address for L2 on the device
lease_and_address() {
    dhcp || return 1
    ip addr add "$NESTED_L2_ADDR" dev "$ifc" || { say "FAIL ip addr add"; return 1; }
}

# storm: a ping flood of the gateway through the device, shown running
# by its transmit count
tx_packets() { cat "/sys/class/net/$ifc/statistics/tx_packets" 2>/dev/null || echo 0; }
tx_past() { [ "$(tx_packets)" -ge "$1" ]; }
flood_start() {
    tx=$(tx_packets)
    ping -q -i 0.01 -s 1400 "$NESTED_GATEWAY" >/dev/null 2>&1 &
    flood=$!
    wait_for tx_past $((tx + 200)) ||
        { say "FAIL no flood: $(($(tx_packets) - tx)) packets sent"; return 1; }
    say "flood on"
}

# storm: before each of NESTED_STORM_CYCLES cycles and after the last,
# under the flood, L1 takes a census of its QEMU; a cycle is a hot-unplug
# and a hot-plug (a lease and echo replies on the new device, then the
# flood again) and a system_reset, which boots L2 again.
storm() {
    echo "NESTED-L2-SYNC boot"
    # shellcheck disable=SC3045 # busybox's read has -t
    read -r -t 60 boot || { say "FAIL no boot number from L1"; return 1; }
    say "boot $boot"
    lease_and_address || return 1
    flood_start || return 1
    echo "NESTED-L2-SYNC census-$boot"
    # shellcheck disable=SC3045 # busybox's read has -t
    read -r -t 60 _ || { say "FAIL no answer to census $boot"; return 1; }
    if [ "$boot" -gt "$NESTED_STORM_CYCLES" ]; then
        kill "$flood" 2>/dev/null
        say "storm ok $NESTED_STORM_CYCLES"
        return 0
    fi
    unplug_replug || return 1
    kill "$flood" 2>/dev/null
    lease_and_address || return 1
    ping -c 3 -W 5 "$NESTED_GATEWAY" >/dev/null ||
        { say "FAIL cycle $boot: no echo reply after the plug"; return 1; }
    flood_start || return 1
    say "cycle $boot traffic ok"
    echo "NESTED-L2-HMP reset"
    sleep 120
    say "FAIL L1 did not reset L2"
    return 1
}

disk() {
    wait_for test -b /dev/nvme0n1 || { say "FAIL no /dev/nvme0n1"; return 1; }
    dd if=/dev/nvme0n1 of=/dev/null bs=4096 count=256 iflag=direct 2>/dev/null ||
        { say "FAIL read of /dev/nvme0n1"; return 1; }
    say "disk-read ok"
}

# config-space byte write: cfg_write OFFSET VALUE
cfg_write() {
    # shellcheck disable=SC2059 # the format is the byte, as an octal escape
    printf "\\$(printf %o "$2")" | dd of="$dev/config" bs=1 seek="$1" conv=notrunc 2>/dev/null
}

cfg_byte() { od -An -tu1 -j"$1" -N1 "$dev/config" | tr -d ' '; }

# The config-space offset of capability ID $1
find_cap() {
    p=$(cfg_byte 52)
    while [ "$p" -ne 0 ]; do
        [ "$(cfg_byte "$p")" -eq "$1" ] && { echo "$p"; return 0; }
        p=$(cfg_byte $((p + 1)))
    done
    return 1
}

# A device without a driver: enable it, check that BAR0 starts with
# ID ($1, as devmem prints it), turn on memory decoding and bus mastering.
enable_bare() {
    echo 1 > "$dev/enable"
    bar0=$(sed -n 1p "$dev/resource" | cut -d' ' -f1)
    [ "$(devmem "$bar0" 32)" = "$1" ] || fail "BAR0 of $bdf is not the scenario's device"
    cfg_write 4 $(($(cfg_byte 4) | 6))
}

# Aim the device's 64-bit MSI at L2's ITS: address at +4 and +8, data at
# +12 of the capability, whose offset goes to $msi
msi_aim() {
    msi=$(find_cap 5) || fail "$bdf has no MSI capability"
    [ $(($(cfg_byte $((msi + 2))) & 1)) = 0 ] || fail "MSI already on"
    for i in 0 1 2 3; do
        cfg_write $((msi + 4 + i)) $(((NESTED_L2_ITS_DOORBELL >> (8 * i)) & 255))
        cfg_write $((msi + 8 + i)) 0
        cfg_write $((msi + 12 + i)) 0
    done
}
msi_enable() { cfg_write $((msi + 2)) $(($(cfg_byte $((msi + 2))) | 1)); }

# Write $2 to BAR0 register $1, NESTED_RAISES times
raise_times() {
    i=0
    while [ $i -lt "$NESTED_RAISES" ]; do
        devmem $((bar0 + $1)) 32 "$2"
        i=$((i + 1))
    done
}

# msix-testdev has no driver: enable it, aim vector 0 at L2's ITS, enable
# MSI-X, and raise vector 0 through the RAISE register (spec:
# docs/specs/msix-testdev.rst).
raise() {
    enable_bare 0x4D535854
    table=$(sed -n 3p "$dev/resource" | cut -d' ' -f1)
    devmem $((table + 0)) 32 "$NESTED_L2_ITS_DOORBELL"
    devmem $((table + 4)) 32 0
    devmem $((table + 8)) 32 0
    devmem $((table + 12)) 32 0         # unmask vector 0
    cfg_write $((0x73)) $((0x80))       # MSI-X enable
    sync_l1 before
    raise_times 0x10 0
    say "raised $(($(devmem $((bar0 + 0x20)) 32))) masked $(($(devmem $((bar0 + 0x28)) 32)))"
    sync_l1 after
}

# knobs: msix-testdev's vectors all aimed at L2's ITS and masked, MSI-X
# enabled, then one round per entry of NESTED_KNOBS_VECTORS: unmask the
# vector, raise it once, mask it.  "round N" marks where each round
# starts in L1's trace of its QEMU.
knobs() {
    enable_bare 0x4D535854
    table=$(sed -n 3p "$dev/resource" | cut -d' ' -f1)
    for v in 0 1 2 3; do
        devmem "$(entry $v)" 32 "$NESTED_L2_ITS_DOORBELL"
        devmem $(($(entry $v) + 4)) 32 0
        devmem $(($(entry $v) + 8)) 32 "$v"
        vector_mask $v 1
    done
    cfg_write $((0x73)) $((0x80))       # MSI-X enable
    # L0's device counts across L1's runs of L2: start from 0
    devmem $((bar0 + 0x38)) 32 1
    sync_l1 before
    n=1
    for v in $NESTED_KNOBS_VECTORS; do
        mark_round "$n"
        vector_mask "$v" 0
        devmem $((bar0 + 0x10)) 32 "$v"
        vector_mask "$v" 1
        n=$((n + 1))
    done
    say "rounds done"
    say "raised $(($(devmem $((bar0 + 0x20)) 32))) masked $(($(devmem $((bar0 + 0x28)) 32)))"
    sync_l1 after
}

# edu has no driver: enable it, aim its one MSI at L2's ITS and raise
# it through register 0x60 (docs/specs/edu.rst).  Each raise sends the
# MSI and ORs the value written into the interrupt status (0x24), so
# raise i writes bit i: the status read back then shows which raises
# reached the device (all five: 0x1f).  The acknowledge (0x64) clears it.
raise_msi() {
    enable_bare 0x010000ED
    msi_aim
    msi_enable
    sync_l1 before
    i=0
    while [ $i -lt "$NESTED_RAISES" ]; do
        devmem $((bar0 + 0x60)) 32 $((1 << i))
        i=$((i + 1))
    done
    status=$(($(devmem $((bar0 + 0x24)) 32)))
    devmem $((bar0 + 0x64)) 32 "$status"
    say "raised-msi status $status acked $(($(devmem $((bar0 + 0x24)) 32)))"
    sync_l1 after
}

msi_pending() { echo $(($(cfg_byte $((msi + 20))) & 1)); }
msi_pending_set() { [ "$(msi_pending)" = 1 ]; }

# msix-testdev's MSI, masked with its mask bit: raise it, read the
# pending bit (it should say 1: the device signalled while masked), then
# unmask (the pending MSI goes out, the bit clears) and read it again.
msi_mask() {
    enable_bare 0x4D535854
    msi_aim
    # With mask bits: mask at +16, pending at +20
    cfg_write $((msi + 16)) 1                                   # mask
    msi_enable
    sync_l1 before
    raise_times 0x60 0
    # The raises reach L1's QEMU through L1's host interrupt: give them
    # time to show, but a QEMU that never sets the bit ends the wait
    wait_up_to 10 msi_pending_set
    say "msi-masked pending $(msi_pending)"
    cfg_write $((msi + 16)) 0                                   # unmask
    say "msi-unmasked pending $(msi_pending)"
    sync_l1 after
}

cfg_dword() { od -An -tu4 -j"$1" -N4 "$dev/config" | tr -d ' '; }

# The address of a BAR location that a capability dword names (BAR index
# in bits 0-2): bar_location DWORD
bar_location() {
    bar=$(sed -n "$((($1 & 7) + 1))p" "$dev/resource" | cut -d' ' -f1)
    echo $((bar + ($1 & ~7)))
}

# MSI-X table entry $1: its address word, its control word
entry() { echo $((table + 16 * $1)); }
vector_mask() { devmem $(($(entry "$1") + 12)) 32 "$2"; }
# Mask vector $1, aim it at address $2 (low word), unmask it
vector_aim() {
    vector_mask "$1" 1
    devmem "$(entry "$1")" 32 "$2"
    vector_mask "$1" 0
}
vector_pending() { echo $((($(devmem "$pba" 32) >> $1) & 1)); }
vector1_pending() { [ "$(vector_pending 1)" = 1 ]; }
# The interrupts the guest has taken on the device's vector 1 (one vCPU)
vector1_irqs() {
    awk -v d="ITS-PCI-MSIX-$bdf" '$3 == d && $4 == 1 { print $2 }' /proc/interrupts
}
vector1_irqs_above() { [ "$(vector1_irqs)" -gt "$1" ]; }

# virtio-route, vhost-route: bring the device's disk or link up
virtio_up() {
    ifc=
    if [ "$SCN_ID" = 1af4:1041 ]; then
        wait_up_to 60 net_if || { say "FAIL $1: no network interface"; return 1; }
        ifc=$(net_if)
        { ip addr add "$NESTED_TAP_L2" dev "$ifc" && ip link set "$ifc" up &&
            wait_for carrier_up; } || { say "FAIL $1: $ifc does not come up"; return 1; }
    else
        wait_for test -b /dev/vda || { say "FAIL $1: no /dev/vda"; return 1; }
    fi
}

# Make the device signal its first queue: a read past the page cache, or
# an ARP request that L1 answers
virtio_io() {   # virtio_io TAG
    if [ -n "$ifc" ]; then
        arping -q -c 1 -w 10 -I "$ifc" "${NESTED_TAP_L1%/*}"
    else
        dd if=/dev/vda of=/dev/null bs=4096 count="$NESTED_VIRTIO_READS" iflag=direct 2>/dev/null
    fi || { say "FAIL $1: no answer from the device"; return 1; }
    say "$1: io ok"
}

virtio_rebind() {
    echo "$bdf" > /sys/bus/pci/drivers/virtio-pci/unbind
    echo "$bdf" > /sys/bus/pci/drivers/virtio-pci/bind
    virtio_up "$1"
}

# virtio-route, vhost-route: the device's first queue (virtio-blk's
# requests, virtio-net's receive queue) has vector 1; Linux puts the
# config interrupt on vector 0.  L2 makes KVM refuse the vector's route:
# it aims the vector at an IOVA that L2's vIOMMU does not map, so that
# the route update at unmask fails (stock QEMU asserts there).
virtio_route() {
    # virtio-pci took the device at boot, before the vIOMMU's driver was
    # loaded: bind it again, now behind the vIOMMU
    virtio_rebind bound || return 1
    [ -e "$dev/iommu_group" ] || { say "FAIL $bdf is not behind the vIOMMU"; return 1; }
    msix=$(find_cap 17) || { say "FAIL no MSI-X capability"; return 1; }
    table=$(bar_location "$(cfg_dword $((msix + 4)))")
    pba=$(bar_location "$(cfg_dword $((msix + 8)))")
    # (The ITS doorbell is a bypass window of the vIOMMU: not translated)
    doorbell=$(devmem "$(entry 1)" 32)
    virtio_io first || return 1
    # The fork's monitor from here on: QMP sends no events before its
    # capabilities are negotiated
    sync_l1 qmp-first

    vector_aim 1 "$NESTED_UNMAPPED_IOVA"
    say "vector 1 aimed at an unmapped IOVA"
    # Put the doorbell back without masking: QEMU, which has the vector
    # now, delivers to the table's message (no unmask: no new route)
    devmem "$(entry 1)" 32 "$doorbell"
    # L1 counts this step's ioctls as a round: QEMU sends its MSIs
    mark_round 1
    virtio_io "in QEMU's hands" || return 1
    say "rounds done"
    # The fork's L1 asks its QEMU what it says of vector 1 (SCN_QMP)
    sync_l1 qmp-in-qemu
    # Masked, the vector's interrupt must land in the PBA, and the unmask
    # must send it: the masked request's answer (a disk read, one echo
    # reply) is taken only once that MSI arrives.  For the network, a
    # first ping resolves L1's address, so that the masked one is a single
    # packet each way with nothing retried behind it.
    if [ -n "$ifc" ]; then
        ping -c 1 -W 10 "${NESTED_TAP_L1%/*}" >/dev/null ||
            { say "FAIL no echo reply before the masked step"; return 1; }
    fi
    vector_mask 1 1
    irqs=$(vector1_irqs)
    if [ -n "$ifc" ]; then
        ping -c 1 -W 30 "${NESTED_TAP_L1%/*}" >/dev/null &
    else
        virtio_io masked &
    fi
    io=$!
    wait_up_to 10 vector1_pending
    say "masked io: pending $(vector_pending 1)"
    vector_mask 1 0
    wait $io || { say "FAIL the answer to the masked request did not arrive"; return 1; }
    if [ -n "$ifc" ]; then
        wait_up_to 10 vector1_irqs_above "$irqs" ||
            { say "FAIL the pending MSI did not go out"; return 1; }
    fi
    say "unmasked: pending $(vector_pending 1), io done"
    virtio_io restored || return 1
    sync_l1 qmp-restored

    # Vector 1 in QEMU's hands again while the driver lets the device go
    vector_aim 1 "$NESTED_UNMAPPED_IOVA"
    virtio_rebind rebound || return 1
    virtio_io rebound || return 1
    say "virtio-route ok"
}

# The interrupts the guest has taken on the device's receive vector
rx_irqs() { awk '$NF ~ /-rx-0$/ { print $2 }' /proc/interrupts; }

# vfio-route: e1000e, passed through, behind L2's vIOMMU.  L2 aims the
# receive vector (0) at an IOVA the vIOMMU does not map, so that KVM
# refuses the vector's route at the unmask.  The device's receive
# interrupts must then follow the message L2 wrote, which the vIOMMU
# drops: none may arrive (a route KVM kept would still deliver them).
# With the doorbell back, the device works again.
vfio_route() {
    dhcp || return 1
    # The address user networking leases (udhcpc's script sets nothing)
    ip addr add "$NESTED_L2_ADDR" dev "$ifc"
    ping -c 1 -W 10 "$NESTED_GATEWAY" >/dev/null ||
        { say "FAIL no echo reply before the test"; return 1; }
    msix=$(find_cap 17) || { say "FAIL no MSI-X capability"; return 1; }
    table=$(bar_location "$(cfg_dword $((msix + 4)))")
    doorbell=$(devmem "$(entry 0)" 32)
    vector_aim 0 "$NESTED_UNMAPPED_IOVA"
    irqs=$(rx_irqs)
    # The device receives the replies; their interrupts go nowhere, so
    # the pings fail, and must.
    if ping -c 3 -W 2 "$NESTED_GATEWAY" >/dev/null; then
        say "misaimed: echo replies"
    fi
    say "misaimed: rx interrupts $(($(rx_irqs) - irqs))"
    # e1000e masks the cause of an interrupt it never took until it is
    # reset: put the doorbell back and take the link down and up, which
    # frees and requests the vectors, so KVM gets the route again.
    devmem "$(entry 0)" 32 "$doorbell"
    ip link set "$ifc" down && ip link set "$ifc" up &&
        wait_for carrier_up || { say "FAIL no carrier after the reset"; return 1; }
    irqs=$(rx_irqs)
    ping -c 1 -W 10 "$NESTED_GATEWAY" >/dev/null ||
        { say "FAIL no echo reply with the doorbell back"; return 1; }
    say "doorbell back: rx interrupts $(($(rx_irqs) - irqs)), echo reply"
    say "vfio-route ok"
}

scn=$(arg scenario)
nested_scenario "$scn" || fail "unknown scenario '$scn'"
stty -echo 2>/dev/null
say "start scenario=$scn kernel=$(uname -r)"
dmesg | grep -iE 'smccc|hypervisor|iommu' | sed 's/^/L2-DMESG| /'
for m in $SCN_L2_MODULES; do
    modprobe "$m" || fail "modprobe $m"
done

bdf=$(nested_find_device "$SCN_ID") || fail "no PCI device $SCN_ID"
dev=/sys/bus/pci/devices/$bdf
if [ -n "$SCN_L2_MODULES" ]; then
    wait_for test -e "$dev/driver" || fail "$bdf has no driver"
    say "bound $bdf driver=$(basename "$(readlink "$dev/driver")")"
fi
[ -e "$dev/iommu_group" ] && say "iommu-group $bdf $(basename "$(readlink "$dev/iommu_group")")"

if [ "$SCN_TRAFFIC" = raise ] || [ "$SCN_TRAFFIC" = raise_msi ] ||
    [ "$SCN_TRAFFIC" = msi_mask ] || [ "$SCN_TRAFFIC" = knobs ]; then
    $SCN_TRAFFIC
else
    before=$(msix_lines | sum_lines)
    sync_l1 before
    # On failure, still show both sides' counts before giving up.
    traffic_ok=1
    ( $SCN_TRAFFIC ) || traffic_ok=0
    sync_l1 after
    after=$(msix_lines)
    echo "$after" | sed 's/^/NESTED-L2-IRQ /'
    say "msix-irqs before $before after $(echo "$after" | sum_lines)"
    [ $traffic_ok = 1 ] || fail "$SCN_TRAFFIC failed"
fi
finish 0
