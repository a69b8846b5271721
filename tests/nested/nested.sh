#!/usr/bin/env bash
# The nested end-to-end harness: vfio-pci passthrough with MSI-X on a
# GICv3 ITS under KVM, entirely under TCG (docs/devel/vmsix-nested.rst).
#
#   L0  this machine: fork-native qemu-system-aarch64, TCG, virt with
#       EL2, SMMUv3 and the scenario's PCI device
#   L1  Debian arm64 Linux with KVM; its QEMU (fork-cross or stock-cross,
#       under strace) passes the device to L2 with vfio-pci
#   L2  the same kernel, which drives the device and counts its MSI-X
#
# usage: tests/nested/nested.sh images [fork|stock]...
#        tests/nested/nested.sh l2-image   (L2's image, no L1 image; prints its path)
#        tests/nested/nested.sh run SCENARIO fork|stock
#        tests/nested/nested.sh table [SCENARIO...]
#        tests/nested/nested.sh list
#
#   VMSIX_GUEST_SUITE   suite of the guests' kernel: bookworm-backports
#                       (6.12, the default), trixie (6.12),
#                       trixie-backports (7.x); empty: bookworm's (6.1).
#                       Runs on another kernel than the default's are
#                       kept in _build/nested/SUITE/
#   VMSIX_NESTED_TIMEOUT  seconds L0 may run (default 300; storm's 1500)
#   VMSIX_NESTED_APPEND   more of L1's kernel command line, e.g.
#                       vmsix.strace=off (no strace, no counts)
set -euo pipefail
. "$(dirname "$0")/../../vmsix/lib.sh"
. "$VMSIX_TOP/tests/nested/scenarios.sh"
# shellcheck source=tests/nested/host.sh
. "$VMSIX_TOP/tests/nested/host.sh"

here="$VMSIX_TOP/tests/nested"
work=$(nested_suite_dir "$VMSIX_BUILD/nested")
l0_qemu="$VMSIX_BUILD/qemu/fork-native/qemu-system-aarch64"
mkdir -p "$work"

usage() {
    echo "usage: tests/nested/nested.sh images [FLAVOR]... | l2-image | run SCENARIO FLAVOR | table [SCENARIO...] | list" >&2
    echo "  FLAVOR: $NESTED_FLAVORS" >&2
    exit 2
}

# make_image OUT KEY-INPUTS... -- INITRAMFS-ARGS...: build OUT with
# vmsix/initramfs.sh unless it was built from the same inputs.
make_image() {
    local out=$1 inputs=() key
    shift
    while [ "$1" != -- ]; do inputs+=("$1"); shift; done
    shift
    key=$( { printf '%s\n' "$@"; cat "${inputs[@]}"; } | sha256sum | cut -d' ' -f1)
    [ -f "$out" ] && [ "$(cat "$out.key" 2>/dev/null)" = "$key" ] && return 0
    vmsix_info "building $(basename "$out")"
    "$VMSIX_TOP/vmsix/initramfs.sh" "$out" "$@"
    echo "$key" > "$out.key"
}

# images FLAVOR...: L2's image, and L1's image for each flavor.  Prints
# the kernel's path.
# The module lists are split on purpose.
# shellcheck disable=SC2086
images() {
    local kernel _moddir busybox strace libc flavor qemu_files
    read -r kernel _moddir busybox < <("$VMSIX_TOP/vmsix/guest-assets.sh")
    { read -r strace; read -r libc; } < <("$VMSIX_TOP/vmsix/guest-assets.sh" package strace libc6)
    [ -x "$strace/usr/bin/strace" ] || vmsix_die "no usr/bin/strace in $strace"
    [ -f "$libc/lib/aarch64-linux-gnu/libc.so.6" ] || vmsix_die "no libc.so.6 in $libc"
    exec 9>"$work/.lock"
    flock 9
    make_image "$work/l2.cpio" "$here/l2-init.sh" "$here/scenarios.sh" "$busybox" "$kernel" -- \
        "$here/l2-init.sh" $NESTED_L2_MODULES -- \
        "$here/scenarios.sh=/etc/nested/scenarios.sh"
    for flavor in "$@"; do
        # L1's QEMU, and for a peer its libraries, which come after
        # bookworm's libc (strace's) and replace it
        mapfile -t qemu_files < <(nested_qemu_files "$flavor")
        [ ${#qemu_files[@]} -gt 0 ] || vmsix_die "no QEMU for $flavor"
        make_image "$work/l1-$flavor.cpio" "$here/l1-init.sh" "$here/scenarios.sh" "$here/l1-qmp.sh" \
            "${qemu_files[0]%%=*}" "$work/l2.cpio" "$kernel" "$busybox" "$strace/usr/bin/strace" -- \
            "$here/l1-init.sh" $NESTED_L1_MODULES -- \
            "$here/scenarios.sh=/etc/nested/scenarios.sh" \
            "$here/l1-qmp.sh=/etc/nested/l1-qmp.sh" \
            "$kernel=/l2/Image" "$work/l2.cpio=/l2/initrd.cpio" \
            "$strace/usr/bin/strace=/bin/strace" \
            "$libc/lib/ld-linux-aarch64.so.1=/lib/ld-linux-aarch64.so.1" \
            "$libc/lib/aarch64-linux-gnu/libc.so.6=/lib/aarch64-linux-gnu/libc.so.6" \
            "${qemu_files[@]}"
    done
    flock -u 9
    echo "$kernel"
}

# l0 SCENARIO FLAVOR KERNEL LOG: boot L1 on L0 under a time limit.
# Returns L0's exit status (124 when the limit hit).
l0() {
    local scn=$1 flavor=$2 kernel=$3 log=$4 rc=0
    nested_scenario "$scn"
    # shellcheck disable=SC2086
    timeout "${VMSIX_NESTED_TIMEOUT:-$SCN_L0_TIMEOUT}" "$l0_qemu" \
        -M "virt,virtualization=on,gic-version=$SCN_GIC,iommu=smmuv3" \
        -cpu max -accel tcg,thread=multi -smp 2 -m 3G \
        -nodefaults -display none -serial stdio -no-reboot \
        -kernel "$kernel" -initrd "$work/l1-$flavor.cpio" \
        -append "console=ttyAMA0 rdinit=/init panic=-1 quiet vmsix.scenario=$scn vmsix.flavor=$flavor $SCN_L1_APPEND ${VMSIX_NESTED_APPEND:-}" \
        $SCN_L0_DEV </dev/null >"$log.raw" 2>&1 || rc=$?
    tr -d '\r' < "$log.raw" > "$log"
    rm -f "$log.raw"
    return $rc
}

# --- checks of one log -------------------------------------------------

failures=0
log=
soft=
check() {       # check DESCRIPTION COMMAND...
    local what=$1
    shift
    if "$@"; then
        echo "  ok    $what"
    elif [ -n "$soft" ]; then
        # a peer where stock fails for what the fork fixes, or where
        # the peer has a bug of its own outside MSI-X: recorded
        echo "  no    $what (recorded, not checked: $flavor)"
    else
        echo "  FAIL  $what"
        failures=$((failures + 1))
    fi
}
has() { grep -qE "$1" "$log"; }
count_is() { [ "$(grep -cE "$2" "$log")" = "$1" ]; }  # count_is N REGEX

# L2's MSI-X total went up under traffic.
l2_counted() {
    local b a
    read -r b a < <(sed -nE 's/^L2\| NESTED-L2 msix-irqs before ([0-9]+) after ([0-9]+)$/\1 \2/p' "$log" | tail -n1) || true
    [ -n "${a:-}" ] && [ "$a" -gt "$b" ]
}
l1_delta() {    # L1's vfio MSI-X count after minus before
    local b a
    b=$(sed -nE 's/^NESTED-L1 vfio-irqs before ([0-9]+)$/\1/p' "$log" | tail -n1)
    a=$(sed -nE 's/^NESTED-L1 vfio-irqs after ([0-9]+)$/\1/p' "$log" | tail -n1)
    if [ -z "$b" ] || [ -z "$a" ]; then
        echo none
        return
    fi
    echo $((a - b))
}
# lifecycle: between L1's system_reset and L2's second boot, the
# vfio_pci_reset lines that L1's QEMU traced (-trace vfio_pci_reset)
resets_traced() {
    sed -n '/^NESTED-L1 hmp system_reset$/,/^L2| NESTED-L2 boot 2$/p' "$log" |
        grep -cE 'vfio_pci_reset +\(' || true
}
reset_traced_is() { [ "$(resets_traced)" = "$1" ]; }
lease_before_reset() {
    sed -n '1,/^NESTED-L1 hmp system_reset$/p' "$log" | grep -q '^L2| NESTED-L2 dhcp ok' &&
        has '^NESTED-L1 hmp system_reset$'
}
dhcp_leases_are() { [ "$(grep -c '^L2| NESTED-L2 dhcp ok' "$log")" = "$1" ]; }
# storm: L1's censuses of its QEMU ("N fds F threads T kinds KIND=COUNT
# ..."), as "N F T D", D the dma-bufs among the F open files
censuses() {
    sed -nE 's/^NESTED-L1 census ([0-9]+) fds ([0-9]+) threads ([0-9]+) kinds(( [^ ]+)*)$/\1 \2 \3\4/p' "$log" |
        awk '{ d = 0
               for (i = 4; i <= NF; i++) {
                   if ($i ~ /^\/dmabuf:/) { c = $i; sub(/.*=/, "", c); d += c }
               }
               print $1, $2, $3, d }'
}
# censuses_steady files|dmabufs: whether every census equals the first,
# taken before the first cycle, in its files other than dma-bufs and its
# threads, or in its dma-bufs
censuses_steady() {
    case "$1" in files|dmabufs) ;; *) return 2 ;; esac
    censuses | awk -v want=$((NESTED_STORM_CYCLES + 1)) -v what="$1" '
        $2 > 0 && $3 > 0 { n++; seen[what == "dmabufs" ? $4 : ($2 - $4) " " $3] = 1 }
        END { exit !(n == want && length(seen) == 1) }'
}
l1_delta_is() { [ "$(l1_delta)" = "$1" ]; }

# link-flap: L1's per-round counts, "N SET_IRQS IRQFD GSI_ROUTING"
rounds() {
    sed -nE 's/^NESTED-ROUND ([0-9]+) VFIO_DEVICE_SET_IRQS ([0-9]+) KVM_IRQFD ([0-9]+) KVM_SET_GSI_ROUTING ([0-9]+) .*/\1 \2 \3 \4/p' "$log"
}
rounds_are() { [ "$(rounds | wc -l)" = "$1" ]; }
# round_signals N: round N's KVM_SIGNAL_MSI
round_signals() {
    sed -nE "s/^NESTED-ROUND $1 .* KVM_SIGNAL_MSI ([0-9]+)$/\1/p" "$log"
}
# every round exactly "SET_IRQS IRQFD GSI_ROUTING"
rounds_each() {
    [ -n "$(rounds)" ] && rounds | awk -v want="$1" \
        '$2 " " $3 " " $4 != want { bad = 1 } END { exit bad }'
}
rounds_summary() {
    rounds | awk '{ s += $2; i += $3; g += $4; n++ }
        END { if (n) printf "per round (mean of %d): VFIO_DEVICE_SET_IRQS %.1f KVM_IRQFD %.1f KVM_SET_GSI_ROUTING %.1f", n, s / n, i / n, g / n }'
}
# L1's QEMU's stderr lines (relayed with L2's console) that SCN_L1_ERRORS
# does not allow
l1_unexpected() {
    sed -n 's/^L2| qemu-system-aarch64: //p' "$log" |
        grep -vE "^($NESTED_DMABUF)" |
        if [ -n "$SCN_L1_ERRORS" ]; then grep -vE "^($SCN_L1_ERRORS)"; else cat; fi
}
l1_expected_only() {
    local lines
    lines=$(l1_unexpected)
    [ -z "$lines" ] && return 0
    printf '        %s\n' "$lines"
    return 1
}
msix_expected() {
    local why f=$flavor
    # x-msix-poller=off runs without the engine: no policy to check; in
    # a variant the policy is the one nested_variant expects
    case "${variant:-}" in poller-off|virt-9.2) f=poller-off ;; esac
    why=$(nested_msix_expected "$log" "$f" ${SCN_V_ALLOC:+"$SCN_V_ALLOC"}) && return 0
    echo "        $why"
    return 1
}
l1_delta_positive() { local d; d=$(l1_delta); [ "$d" != none ] && [ "$d" -gt 0 ]; }

# The fork's QMP lines at L2's sync point "qmp-TAG" (SCN_QMP, l1-init.sh).
# QMP puts an object's members in no fixed order: one pattern each.
qmp_has() {     # qmp_has TAG REGEX...: a line of TAG matches every REGEX
    local tag=$1 lines re
    shift
    lines=$(sed -n "s/^NESTED-L1-QMP $tag //p" "$log")
    for re in "$@"; do
        lines=$(grep -E -- "$re" <<<"$lines" || true)
    done
    [ -n "$lines" ]
}
# qmp_number TAG REGEX: the number after REGEX in TAG's x-query-msix reply
qmp_number() {
    sed -n "s/^NESTED-L1-QMP $1 \({\"return\": \[.*\)/\1/p" "$log" | tail -n1 |
        sed -nE "s/.*$2([0-9]+).*/\1/p"
}

# virtio-route, vhost-route: the fork's monitor says which vector QEMU
# serves, and tells when it goes there and back.  Each query asks for
# vector 1 alone, so the reply's one vector is vector 1; no other vector
# falls back, so the device's fallbacks are vector 1's.  (virtio-pci
# counts a device's fallbacks, not its restores, and no vector's.)
virtio_route_qmp_checks() {
    local dev=vblk0 vec='"vector-list": \[\{[^]]*' totals='"totals": \{[^}]*'
    [ "$scn" = virtio-route ] || dev=vnet0
    check "L1: QMP: x-query-msix: $dev vector 1 on KVM at first (bypass), no fallback" \
        qmp_has first '^\{"return": ' "$vec\"vector\": 1[,}]" "$vec\"state\": \"bypass\"" \
        "$totals\"fallbacks\": 0[,}]"
    check "L1: QMP: MSIX_VECTOR_FALLBACK names $dev, vector 1, a reason" \
        qmp_has in-qemu '"event": "MSIX_VECTOR_FALLBACK"' "\"device\": \"$dev\"" \
        '"vector": 1[,}]' '"reason": "[^"]+"'
    check "L1: QMP: x-query-msix: vector 1 served by QEMU (userspace), 1 fallback" \
        qmp_has in-qemu '^\{"return": ' "$vec\"state\": \"userspace\"" "$totals\"fallbacks\": 1[,}]"
    check "L1: QMP: MSIX_VECTOR_RESTORED names $dev, vector 1" \
        qmp_has restored '"event": "MSIX_VECTOR_RESTORED"' "\"device\": \"$dev\"" '"vector": 1[,}]'
    check "L1: QMP: x-query-msix: vector 1 on KVM again (bypass), still 1 fallback" \
        qmp_has restored '^\{"return": ' "$vec\"state\": \"bypass\"" "$totals\"fallbacks\": 1[,}]"
}

# link-flap: the fork's counters over the rounds, from its monitor, are
# what strace counted there
link_flap_qmp_checks() {
    local strace_irqfd strace_set a0 d0 s0 a1 d1 s1
    strace_irqfd=$(rounds | awk '{ s += $3 } END { print s + 0 }')
    strace_set=$(rounds | awk '{ s += $2 } END { print s + 0 }')
    a0=$(qmp_number rounds-start '"totals": \{[^}]*"irqfd-attaches": ')
    d0=$(qmp_number rounds-start '"totals": \{[^}]*"irqfd-detaches": ')
    s0=$(qmp_number rounds-start '"host": \{[^}]*"set-irqs": ')
    a1=$(qmp_number rounds-end '"totals": \{[^}]*"irqfd-attaches": ')
    d1=$(qmp_number rounds-end '"totals": \{[^}]*"irqfd-detaches": ')
    s1=$(qmp_number rounds-end '"host": \{[^}]*"set-irqs": ')
    check "L1: QMP: x-query-msix before and after the rounds" \
        test -n "$a0" -a -n "$d0" -a -n "$s0" -a -n "$a1" -a -n "$d1" -a -n "$s1"
    [ -n "$a0$d0$s0" ] && [ -n "$a1$d1$s1" ] || return 0
    check "L1: QMP: irqfd attaches + detaches over the rounds ($((a1 + d1 - a0 - d0))) = strace's KVM_IRQFD ($strace_irqfd)" \
        test "$((a1 + d1 - a0 - d0))" = "$strace_irqfd"
    check "L1: QMP: attaches over the rounds = detaches ($((a1 - a0)))" \
        test "$((a1 - a0))" = "$((d1 - d0))"
    check "L1: QMP: VFIO_DEVICE_SET_IRQS over the rounds ($((s1 - s0))) = strace's ($strace_set)" \
        test "$((s1 - s0))" = "$strace_set"
}

# virtio-route, vhost-route: KVM refuses a route of a virtio device behind
# L2's vIOMMU
virtio_route_checks() {
    local qemu='^L2\| qemu-system-aarch64: (vblk0|vnet0): MSI-X vector'
    local vector='virtio-(blk|net)-pci vector 1'
    check "L2: device behind the vIOMMU, answers" has '^L2\| NESTED-L2 first: io ok$'
    if [ -n "$aborts" ]; then
        [ "$flavor" = stock ] || soft=1
        check "L1: stock QEMU asserts when KVM refuses the route at unmask" \
            has "Assertion .ret >= 0. failed"
        check "L1: its QEMU died of it (status 134)" has '^NESTED-L1 l2-exit 134$'
        soft=
        echo "  L1's QEMU exited with status $(sed -n 's/^NESTED-L1 l2-exit //p' "$log")"
        return
    fi
    check "L2: unmasked vector in QEMU's hands: QEMU delivered its interrupt" \
        has "^L2\\| NESTED-L2 in QEMU's hands: io ok$"
    check "L2: masked vector in QEMU's hands: its interrupt went to the PBA" \
        has '^L2\| NESTED-L2 masked io: pending 1$'
    check "L2: unmasked: the pending MSI went out, the io completed" \
        has '^L2\| NESTED-L2 unmasked: pending 0, io done$'
    check "L2: io with vector 1 back on KVM" has '^L2\| NESTED-L2 restored: io ok$'
    check "L2: driver rebound with vector 1 in QEMU's hands, io" \
        has '^L2\| NESTED-L2 rebound: io ok$'
    check "L2: $scn done" has '^L2\| NESTED-L2 virtio-route ok$'
    if [ "$scn" = virtio-route ]; then
        check "L1: QEMU sent the $NESTED_VIRTIO_READS reads' MSIs in its hands (KVM_SIGNAL_MSI; got $(round_signals 1))" \
            test "$(round_signals 1)" = "$NESTED_VIRTIO_READS"
    fi
    check "L1: QEMU reported vector 1 once (refused twice)" \
        count_is 1 "$qemu 1: cannot update KVM MSI route [0-9]+: Invalid argument; its interrupts go through QEMU$"
    check "L1: both refusals traced, each handing the vector to QEMU" \
        count_is 2 "virtio_pci_vector_to_qemu $vector: "
    check "L1: vector 1 handed back to KVM once its doorbell was fixed" \
        count_is 1 "virtio_pci_vector_to_kvm $vector GSI [0-9]+"
    [ "$flavor" != fork ] || virtio_route_qmp_checks
}

# vfio-route: KVM refuses the route of a vfio-pci vector that L2 aims at
# an IOVA its vIOMMU does not map
vfio_route_checks() {
    check "L2: echo replies with the vector on KVM" has '^L2\| NESTED-L2 dhcp ok$'
    check "L2: doorbell back, link reset: the device works again" \
        has '^L2\| NESTED-L2 doorbell back: rx interrupts [1-9][0-9]*, echo reply$'
    check "L2: $scn done" has '^L2\| NESTED-L2 vfio-route ok$'
    if [ "$flavor" = fork ]; then
        check "L2: misaimed vector: its interrupts followed the message, none arrived" \
            has '^L2\| NESTED-L2 misaimed: rx interrupts 0$'
        check "L1: QEMU reported the refused route once" \
            count_is 1 "$NESTED_VFIO_ROUTE_REFUSED"
    fi
    if [ "${variant:-}" = poller-off ]; then
        check "L1: the vector went to QEMU (traced)" \
            has '^L2\| vfio_msi_vector_to_qemu +\(0000:00:01\.0\) vector 0: '
    fi
    sed -n 's/^L2| NESTED-L2 \(misaimed: .*\)/  \1/p' "$log"
}

# The checks of one run of L2 under L1's QEMU, in $log
l2_checks() {
    check "L2: a KVM guest" has '^L2\| L2-DMESG\| .*smccc: KVM: hypervisor services detected'
    case "$SCN_TRAFFIC" in
    dhcp) check "L2: DHCP lease through the device" has '^L2\| NESTED-L2 dhcp ok$' ;;
    flap) check "L2: $NESTED_FLAPS link flaps, the gateway answered after each" \
        has "^L2\\| NESTED-L2 flap ok $NESTED_FLAPS$"
        check "L2: no transmit timeout or hang of e1000e" \
            not_has '^L2\| L2-DMESG\| .*(NETDEV WATCHDOG|Hardware Unit Hang|Reset adapter)' ;;
    disk) check "L2: read the NVMe disk" has '^L2\| NESTED-L2 disk-read ok$' ;;
    lifecycle)
        check "L2: DHCP lease before the reset" lease_before_reset
        check "L1: system_reset reset the device in its QEMU, once, before L2's second boot" \
            reset_traced_is 1
        check "L2: booted again, DHCP lease" has '^L2\| NESTED-L2 boot 2$'
        check "L2: device hot-unplugged" has '^L2\| NESTED-L2 unplugged '
        check "L2: the emptied slot's port kept awake, its hot-plug interrupt on" \
            has '^L2\| NESTED-L2 port awake: runtime active, '
        check "L2: device hot-plugged again, driver bound" has '^L2\| NESTED-L2 replugged .* driver=e1000e$'
        check "L2: DHCP lease on the replugged device (3 leases in all)" dhcp_leases_are 3
        check "L2: lifecycle done" has '^L2\| NESTED-L2 lifecycle ok$' ;;
    storm)
        check "L2: booted $((NESTED_STORM_CYCLES + 1)) times, a lease and a flood each time" \
            count_is $((NESTED_STORM_CYCLES + 1)) '^L2\| NESTED-L2 boot [0-9]+$'
        check "L2: hot-unplugged $NESTED_STORM_CYCLES times under the flood" \
            count_is "$NESTED_STORM_CYCLES" '^L2\| NESTED-L2 unplugged '
        check "L2: plugged again each time: driver bound, a lease, echo replies, the flood again" \
            count_is "$NESTED_STORM_CYCLES" '^L2\| NESTED-L2 cycle [0-9]+ traffic ok$'
        check "L2: storm done" has "^L2\\| NESTED-L2 storm ok $NESTED_STORM_CYCLES$"
        check "L1: its QEMU's open files other than dma-bufs, and its threads, the same before every cycle and after the last" \
            censuses_steady files
        # QEMU 11.1 exports a dma-buf of each BAR region it maps where
        # vfio can (Linux 7.x) and does not close it when the device
        # goes: the peer's bug, recorded
        [ "$flavor" = debian-11.1 ] && soft=1
        check "L1: its QEMU's dma-bufs the same before every cycle and after the last" \
            censuses_steady dmabufs
        soft=
        censuses | sed 's/^\([0-9]*\) \([0-9]*\) \([0-9]*\) \([0-9]*\)$/  census \1: \2 fds (\4 dma-bufs), \3 threads/' ;;
    int_modes)
        check "L2: DHCP with MSI-X" has '^L2\| NESTED-L2 intmode first msix ok$'
        for m in $NESTED_INT_MODES; do
            check "L2: reloaded with IntMode=${m%:*}: ${m#*:}, DHCP" \
                has "^L2\\| NESTED-L2 intmode ${m%:*} ${m#*:} ok$"
        done
        check "L1: vfio-pci turned MSI on in the host on the way" \
            has '^L2\| vfio_msi_enable +\('

        check "L2: int-modes done (4 leases in all)" dhcp_leases_are 4
        ;;
    raise) check "L2: device raised vector 0 $NESTED_RAISES times, none masked" \
        has "^L2\| NESTED-L2 raised $NESTED_RAISES masked 0$" ;;
    msi_mask)
        check "L1: vfio-pci holds a host MSI vector, not MSI-X" \
            has '^NESTED-L1-IRQ after .*vfio-msi\[0\]'
        if [ "$flavor" = fork ]; then
            check "L2: masked MSI raised: its pending bit is set" \
                has '^L2\| NESTED-L2 msi-masked pending 1$'
            check "L2: unmasked: the pending MSI went out, the bit is clear" \
                has '^L2\| NESTED-L2 msi-unmasked pending 0$'
            check "L1: its QEMU sent exactly that one MSI (KVM_SIGNAL_MSI)" \
                has '^NESTED-COUNT KVM_SIGNAL_MSI 1$'
        else
            # Stock keeps the irqfd attached: the masked raises go to L2
            check "L2: masked MSI raised: stock injected it, the pending bit stays clear" \
                has '^L2\| NESTED-L2 msi-masked pending 0$'
            check "L2: unmasked: the pending bit is clear" \
                has '^L2\| NESTED-L2 msi-unmasked pending 0$'
            check "L1: its QEMU sent no MSI (KVM_SIGNAL_MSI)" \
                has '^NESTED-COUNT KVM_SIGNAL_MSI 0$'
        fi
        echo "  KVM_SIGNAL_MSI: $(sed -n 's/^NESTED-COUNT KVM_SIGNAL_MSI //p' "$log")"
        sed -n 's/^L2| NESTED-L2 \(msi-.*pending.*\)/  \1/p' "$log" ;;
    virtio_route) virtio_route_checks ;;
    vfio_route) vfio_route_checks ;;
    knobs) knobs_checks ;;
    raise_msi) check "L2: all $NESTED_RAISES raises reached the device (interrupt status $(((1 << NESTED_RAISES) - 1)), 0 once acknowledged)" \
        has "^L2\| NESTED-L2 raised-msi status $(((1 << NESTED_RAISES) - 1)) acked 0$"
        check "L1: vfio-pci holds a host MSI vector, not MSI-X" \
        has '^NESTED-L1-IRQ after .*vfio-msi\[0\]' ;;
    esac
    if [ "$SCN_TRAFFIC" = knobs ]; then
        check "L1: its vfio-pci vectors show $SCN_V_L1_IRQS interrupts of the $(knobs_rounds) raises (got $(l1_delta))" \
            l1_delta_is "$SCN_V_L1_IRQS"
    elif [ "$SCN_TRAFFIC" = raise ] || [ "$SCN_TRAFFIC" = raise_msi ] ||
        [ "$SCN_TRAFFIC" = msi_mask ]; then
        check "L1: vfio-pci received exactly $NESTED_RAISES interrupts (got $(l1_delta))" \
            l1_delta_is "$NESTED_RAISES"
    elif [ "$scn" = int-modes ]; then
        : # every reload frees the vectors: their counts start from 0 again
    elif [ -z "$aborts" ]; then
        check "L2: the device's MSI-X interrupts counted up under traffic" l2_counted
        if [ -z "$SCN_L0_DEV" ]; then
            : # no passthrough: nothing goes through vfio-pci in L1
        elif [ "$SCN_GIC" = 4 ]; then
            check "L1: vfio-pci saw none of them (injected directly; got $(l1_delta))" l1_delta_is 0
        elif [ "$scn" = lifecycle ] || [ "$scn" = storm ]; then
            : # the replugged device's host vectors count from 0 again
        else
            check "L1: vfio-pci relayed them (got $(l1_delta))" l1_delta_positive
        fi
    fi
    if [ "$scn" = viommu ]; then
        check "L2: device in an IOMMU group of the virtio-iommu" has '^L2\| NESTED-L2 iommu-group '
    fi
    if [ -z "$aborts" ]; then
        check "L2: finished and powered off" has '^L2\| NESTED-L2 done 0$'
        check "L1: its QEMU exited with status 0" has '^NESTED-L1 l2-exit 0$'
    fi
    check "L1: ioctl counts reported" has '^NESTED-COUNT VFIO_DEVICE_SET_IRQS [0-9]+$'
    # The README's figures: fork and stock on the default kernel (6.12,
    # where the fork allocates per table; per vector adds one a vector)
    local want=
    if [ "$VMSIX_GUEST_SUITE" = "$NESTED_DEFAULT_SUITE" ]; then
        case "$flavor" in
        fork) want=$SCN_L1_COUNTS_FORK ;;
        stock) want=$SCN_L1_COUNTS_STOCK ;;
        esac
    elif [ "$flavor" = fork ] && nested_dynamic_kernel "$(nested_log_kernel "$log")"; then
        # a kernel whose ITS grows MSI-X: the fork allocates per vector
        want=$SCN_L1_COUNTS_FORK_DYNAMIC
    fi
    if [ -n "$want" ]; then
        check "L1: its QEMU's ioctls in the whole run: $want (got $(counts_of "$want"))" \
            counts_are "$want"
    fi
    check "L1: its QEMU printed no line the scenario does not expect" l1_expected_only
    if [ -n "$SCN_L0_DEV" ] && [ -z "$SCN_NO_MSIX" ]; then
        check "L1: vfio-pci's NORESIZE for the MSI-X is what $(nested_log_kernel "$log") must report$fork_policy" \
            msix_expected
        echo "  $(nested_msix_summary "$log")"
    fi
    if [ "$SCN_TRAFFIC" = flap ]; then
        check "L1: ioctl counts of all $NESTED_FLAPS rounds" rounds_are "$NESTED_FLAPS"
        if [ "$flavor" = fork ]; then
            check "L1: every round: 0 VFIO_DEVICE_SET_IRQS, $NESTED_FLAP_IRQFD KVM_IRQFD, 0 KVM_SET_GSI_ROUTING" \
                rounds_each "0 $NESTED_FLAP_IRQFD 0"
            link_flap_qmp_checks
        else
            [ "$flavor" = stock ] || soft=1
            check "L1: every round: $NESTED_FLAP_STOCK (VFIO_DEVICE_SET_IRQS KVM_IRQFD KVM_SET_GSI_ROUTING: the host's vectors freed and requested)" \
                rounds_each "$NESTED_FLAP_STOCK"
            soft=
        fi
        rounds | sed 's/^/  round /'
        echo "  $(rounds_summary)"
        rounds_summary > "$work/$scn-$flavor.rounds"
    fi
}

# counts_of "NAME N...": the counts of those ioctls that L1 reported,
# in the same form; counts_are "NAME N...": they are those
counts_of() {
    local name
    # shellcheck disable=SC2086 # the list is split on purpose
    set -- $1
    while [ $# -ge 2 ]; do
        name=$1
        shift 2
        printf '%s %s ' "$name" "$(sed -n "s/^NESTED-COUNT $name //p" "$log")"
    done | sed 's/ $//'
}
counts_are() { [ "$(counts_of "$1")" = "$1" ]; }

# knobs: L2's rounds, and each round's ioctls as "SET_IRQS IRQFD
# GSI_ROUTING", rounds separated by ","
# shellcheck disable=SC2086 # the list is split on purpose
knobs_rounds() { set -- $NESTED_KNOBS_VECTORS; echo $#; }
rounds_cost() { rounds | awk '{ print $2, $3, $4 }' | paste -sd, -; }
rounds_cost_is() { [ "$(rounds_cost)" = "$1" ]; }
traced() { grep -cE "^L2\\| $1" "$log" || true; }
traced_is() { [ "$(traced "$2")" = "$1" ]; }   # traced_is N REGEX
knobs_checks() {
    local n
    n=$(knobs_rounds)
    check "L2: the device raised $n times, none masked" \
        has "^L2\\| NESTED-L2 raised $n masked 0$"
    check "L1: ioctl counts of all $n rounds" rounds_are "$n"
    check "L1: each round's VFIO_DEVICE_SET_IRQS KVM_IRQFD KVM_SET_GSI_ROUTING: $SCN_V_ROUNDS (got $(rounds_cost))" \
        rounds_cost_is "$SCN_V_ROUNDS"
    case "$variant" in
    auto|table|vector)
        check "L1: vfio-pci allocates the host's MSI-X per $SCN_V_ALLOC" \
            traced_is 1 "vfio_pci_msi_engine_init .* 4 vectors, MSI-X host allocation per $SCN_V_ALLOC\$"
        if [ "$SCN_V_ALLOC" = table ]; then
            check "L1: one MSI-X enable, the whole table allocated at it" \
                traced_is 1 'vfio_msix_engine_enable .* MSI-X on, 4 vectors, all allocated at enable 1$'
        else
            check "L1: one MSI-X enable, no vector allocated at it" \
                traced_is 1 'vfio_msix_engine_enable .* MSI-X on, 4 vectors, all allocated at enable 0$'
        fi
        ;;
    poller-off|virt-9.2)
        check "L1: vfio-pci runs without the engine" \
            traced_is 0 'vfio_(pci_msi_engine_init|msix_engine_enable) '
        ;;
    esac
    rounds | sed 's/^/  round /'
}

# variant_section VARIANT LOG: the lines of LOG that belong to VARIANT,
# from its "variant" line to the next variant or L1's end, after L1's
# start line (its kernel)
variant_section() {
    awk -v v="NESTED-L1 variant $1" '
        /^NESTED-L1 start / { print; next }
        $0 == v { on = 1; next }
        /^NESTED-L1 (variant |done )/ { on = 0 }
        on' "$2"
}
variants_are() {
    [ "$(sed -n 's/^NESTED-L1 variant //p' "$log" | tr '\n' ' ')" = "$1 " ]
}
refused_once() {
    count_is 1 "^L2\\| qemu-system-aarch64: $SCN_V_ERRORS" && has '^NESTED-L1 l2-exit 1$'
}

# A scenario with variants: the checks of each variant's run of L2, on
# its part of the log
variant_checks() {
    local whole=$log errors=$SCN_L1_ERRORS variants=$SCN_VARIANTS variant dynamic=
    local policy=$fork_policy
    [ "$flavor" = fork ] || variants=stock
    nested_dynamic_kernel "$(nested_log_kernel "$whole")" && dynamic=dynamic
    check "L1: ran its QEMU once per variant: $variants" variants_are "$variants"
    for variant in $variants; do
        nested_variant "$variant" ${dynamic:+"$dynamic"}
        fork_policy=$policy
        case "$variant" in
        table|vector) fork_policy=", and the fork's allocation is the property's" ;;
        esac
        log="$work/$scn-$flavor.$variant.log"
        variant_section "$variant" "$whole" > "$log"
        [ "$variant" = "${variants%% *}" ] && counts_log=$log
        SCN_L1_ERRORS=$errors${SCN_V_ERRORS:+|$SCN_V_ERRORS}
        echo " variant $variant ($log):"
        if [ -n "$SCN_V_REFUSED" ]; then
            check "L1: its QEMU refused the device at realize, said so once, exited with status 1" \
                refused_once
            check "L2: never started" not_has '^L2\| NESTED-L2 '
            check "L1: no VFIO_DEVICE_SET_IRQS" has '^NESTED-COUNT VFIO_DEVICE_SET_IRQS 0$'
            check "L1: its QEMU printed no line the scenario does not expect" l1_expected_only
        else
            l2_checks
        fi
    done
    SCN_L1_ERRORS=$errors fork_policy=$policy
    log=$whole
}
not_has() { ! has "$1"; }

run() {
    local scn=$1 flavor=$2 kernel rc=0
    nested_scenario "$scn" || vmsix_die "unknown scenario '$scn' (tests/nested/nested.sh list)"
    nested_flavor_ok "$flavor" || vmsix_die "flavor must be one of $NESTED_FLAVORS, not '$flavor'"
    [ -x "$l0_qemu" ] || vmsix_die "$l0_qemu is not built: run ./qemu-vmsix build fork-native"
    kernel=$(images "$flavor")
    log="$work/$scn-$flavor.log"
    vmsix_info "$scn on $flavor: L0 TCG -> L1 KVM -> L2 with vfio-pci ($log)"
    l0 "$scn" "$flavor" "$kernel" "$log" || rc=$?

    echo "$scn/$flavor:"
    check "L1: KVM initialised at EL2" has '^L1-DMESG\| .*kvm \[[0-9]+\]: .*mode initialized successfully'
    check "L1: GICv3 ITS present" has '^L1-DMESG\| .*ITS@0x[0-9a-f]+'
    if [ "$SCN_GIC" = 4 ]; then
        check "L1: KVM uses GICv4 (direct vLPI injection)" has '^L1-DMESG\| .*kvm \[[0-9]+\]: GICv4(\.1)? support enabled'
    fi
    if [ -n "$SCN_L0_DEV" ]; then
        check "L1: device bound to vfio-pci in an IOMMU group, no unsafe interrupts" \
            has '^NESTED-L1 bound [0-9a-f:.]+ driver=vfio-pci group=[0-9]+ unsafe_interrupts=N$'
    fi
    # The stock QEMU of a scenario that makes it abort stops L2 half-way
    local aborts='' fork_policy='' counts_log=$log
    [ "$flavor" = fork ] && fork_policy=", and the fork's allocation policy follows it"
    # (and, it is recorded, a peer's)
    [ "$flavor" != fork ] && [ -n "$SCN_STOCK_ABORT" ] && aborts=1
    if [ -n "$SCN_VARIANTS" ]; then
        variant_checks
    else
        l2_checks
    fi
    check "L1: finished" has '^NESTED-L1 done 0$'
    check "L0: exited with status 0 (got $rc)" test "$rc" = 0

    sed -n 's/^NESTED-COUNT //p' "$counts_log" > "$work/$scn-$flavor.counts"
    nested_write_meta "$counts_log" > "$work/$scn-$flavor.meta"
    if [ $failures -gt 0 ]; then
        echo "--- last 40 lines of $log"
        tail -n 40 "$log"
        echo "---"
        vmsix_die "$scn on $flavor: $failures check(s) failed"
    fi
    echo "  ioctls: $(tr '\n' ' ' < "$work/$scn-$flavor.counts")"
}

# table [SCENARIO...]: the ioctl counts of the last runs, one block per
# L1 kernel that was run, one column per flavour ("-": not run, or no
# counts), with what vfio said of NORESIZE and the fork's policy.
table() {
    local scn name f dir suite kver flavors=() line
    # shellcheck disable=SC2086
    [ $# -gt 0 ] || set -- $NESTED_SCENARIOS
    while read -r dir suite; do
        ls "$dir"/*.counts >/dev/null 2>&1 || continue
        kver=$(cat "$dir"/*.meta 2>/dev/null | sed -n 's/^kernel //p' | sort -u | tr '\n' ' ')
        echo "L1 kernel ${kver:-?}($suite)"
        flavors=()
        for f in $NESTED_FLAVORS; do
            ls "$dir"/*-"$f".counts >/dev/null 2>&1 && flavors+=("$f")
        done
        printf '%-14s %-22s' scenario ioctl
        printf ' %11s' "${flavors[@]}"
        echo
        for scn in "$@"; do
            line=
            for f in "${flavors[@]}"; do
                [ -f "$dir/$scn-$f.counts" ] && line=1
            done
            [ -n "$line" ] || continue
            for name in VFIO_DEVICE_SET_IRQS KVM_IRQFD KVM_SET_GSI_ROUTING KVM_SIGNAL_MSI KVM_RUN writev; do
                printf '%-14s %-22s' "$scn" "$name"
                for f in "${flavors[@]}"; do
                    line=$(awk -v n="$name" '$1 == n { print $2 }' "$dir/$scn-$f.counts" 2>/dev/null || true)
                    printf ' %11s' "${line:--}"
                done
                echo
            done
            printf '%-14s %-22s' "$scn" "NORESIZE/policy"
            for f in "${flavors[@]}"; do
                line=$(nested_meta_cell "$dir/$scn-$f.meta")
                printf ' %11s' "${line:--}"
            done
            echo
            for f in "${flavors[@]}"; do
                if [ -f "$dir/$scn-$f.rounds" ]; then
                    echo "$scn $f: $(cat "$dir/$scn-$f.rounds")"
                fi
            done
        done
        echo
    done < <(nested_suite_dirs "$VMSIX_BUILD/nested")
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
images) [ $# -gt 0 ] || set -- fork stock; images "$@" >/dev/null ;;
l2-image) [ $# = 0 ] || usage; images >/dev/null; echo "$work/l2.cpio" ;;
run) [ $# = 2 ] || usage; run "$@" ;;
table) table "$@" ;;
list) echo "$NESTED_SCENARIOS" ;;
*) usage ;;
esac
