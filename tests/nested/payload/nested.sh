#!/usr/bin/env bash
# Run the test payload as L2 of the nested harness (docs/devel/vmsix-nested.rst):
# L0 (fork-native, TCG) has an msix-testdev, L1 (Debian arm64 Linux with
# KVM) passes it to L2 with vfio-pci under the QEMU under test (fork-cross
# or stock-cross), and L2 is the payload, which checks and counts MSI-X.
#
# usage: tests/nested/payload/nested.sh run FLAVOR [VECTORS [ONLY]]
#   FLAVOR    fork, stock, or a peer: debian-10.0, debian-11.1 (Debian's
#             own qemu-system-arm, tests/nested/host.sh), run as stock is
#        tests/nested/payload/nested.sh ivshmem FLAVOR [ONLY]
#        tests/nested/payload/nested.sh libvirt FLAVOR [VECTORS|e1000e]
#        tests/nested/payload/nested.sh table
#   VECTORS   the device's MSI-X vectors (default 2048)
#   ONLY      the payload's scenario letters to run, e.g. "de" (default
#             all but n, which runs only when named)
#   VMSIX_PAYLOAD_AUTO_US   scenario d's raiser period in L2 (default 50000)
#   VMSIX_PAYLOAD_PROFILE   1: L1 also times each traced ioctl and its vCPU
#                           threads' time out of KVM_RUN, per window
#                           (PAYLOAD-PROFILE lines, docs/devel/vmsix-bench.rst);
#                           2: and every syscall of every thread
#                           (PAYLOAD-SYSCALLS lines)
#   VMSIX_PAYLOAD_G_PAIRS, VMSIX_PAYLOAD_G_RAISES, VMSIX_PAYLOAD_G_TOGGLES
#                           scenario g's mask+unmask pairs, raises and
#                           function-mask toggles (default 1000, 200 and
#                           2, at most 10000)
#   VMSIX_NESTED_TIMEOUT    seconds L0 may run (default 900)
#   VMSIX_GUEST_SUITE       L1's kernel (tests/nested/host.sh); runs on
#                           another than the default are kept in
#                           $VMSIX_BUILD/payload/SUITE/
#   VMSIX_NESTED_APPEND     more of L1's kernel command line, e.g.
#                           vmsix.ioctls=off (no trace of QEMU's ioctls)
#   VMSIX_PAYLOAD_GIC       4: L0's GIC is a GICv4.1 and L1's KVM forwards
#                           the device's MSIs to L2 as vLPIs
#                           (kvm-arm.vgic_v4_enable=1); the run is named
#                           ...-gicv4 (default 3)
#   VMSIX_PAYLOAD_VFIO      more options of each vfio-pci device, e.g.
#                           ,x-msix-vlpi-resend=off (the run is named
#                           ...-vfio; no spaces)
#   VMSIX_PAYLOAD_DEVICES   msix-testdevs of VECTORS each (default 1); with
#                           more, the run is named FLAVOR-VECTORS[-ONLY]-xN
#                           and checks route exhaustion (check_exhaustion)
#   VMSIX_PAYLOAD_REFUSE    MARK/IOCTL/COUNT/RESULT[,...]: L1's host
#                           refuses the QEMU under test its next COUNT
#                           calls of IOCTL (VFIO_DEVICE_SET_IRQS of MSI-X
#                           triggers, KVM_IRQFD attaches or
#                           KVM_SET_GSI_ROUTING) once the payload reaches
#                           mark MARK, with RESULT (an errno name, or +N:
#                           only N vectors), through payload/refuse.c; the
#                           run is named ...-refuse-WHAT and checked by
#                           check_refusals
# "ivshmem" runs no passthrough: L2's devices are ivshmem-doorbells of
# L1's QEMU, served by payload/ivshmem-server.c, for the payload's
# iv-late (j), iv-refused (k) and iv-shared (m): eventfds that come late
# or never, routes KVM has no room for, and an eventfd the server gave
# two vectors; ONLY picks some of j, k, m (default all).  The run is
# named FLAVOR-ivshmem[-ONLY] and checked by check_ivshmem.
# "libvirt" has L1's libvirtd start the payload as L2 from a domain XML
# (payload/l1-libvirt.sh) with the msix-testdev (VECTORS, default 64) as
# a <hostdev managed='yes'>, runs the payload's a and b, and checks with
# check_libvirt what virsh and L1 recorded.  The run is named
# FLAVOR-libvirt.  With e1000e instead of VECTORS the device is an
# e1000e and L2 the nested harness's Linux (tests/nested/l2-init.sh),
# which takes a DHCP lease over it (FLAVOR-libvirt-e1000e).  With
# VMSIX_PAYLOAD_REFUSE libvirt starts the QEMU under test under
# payload/refuse.c (FLAVOR-libvirt-refuse-WHAT).
# "run" prints L2's results.  On fork it succeeds only if the payload
# reported "N passed, 0 failed"; on stock, whose failures are what the
# fork fixes, it succeeds if the payload completed, and lists what failed.
# A run is named FLAVOR-VECTORS[-ONLY]: its log is
# $VMSIX_BUILD/payload/nested-NAME.log, its results nested-NAME.results;
# "table" prints the results of every run side by side.
set -euo pipefail
# shellcheck source=vmsix/lib.sh
. "$(dirname "$0")/../../../vmsix/lib.sh"
# shellcheck source=tests/nested/scenarios.sh
. "$VMSIX_TOP/tests/nested/scenarios.sh"
# shellcheck source=tests/nested/host.sh
. "$VMSIX_TOP/tests/nested/host.sh"

out=$(nested_suite_dir "$VMSIX_BUILD/payload")
usage() { vmsix_die "usage: $0 run FLAVOR [VECTORS [ONLY]] | table (FLAVOR: $NESTED_FLAVORS)"; }

# table: per L1 kernel that was run, each scenario's result in each run
# ("-": not run there), the figures, and each scenario's
# VFIO_DEVICE_SET_IRQS (L1's trace of QEMU's ioctls).
table() {
    local runs=() f name r dir suite kver
    while read -r dir suite; do
        runs=()
        for f in "$dir"/nested-*.results; do
            [ -f "$f" ] || continue
            f=${f##*/nested-}
            runs+=("${f%.results}")
        done
        [ ${#runs[@]} -gt 0 ] || continue
        kver=$(cat "$dir"/nested-*.meta 2>/dev/null | sed -n 's/^kernel //p' | sort -u | tr '\n' ' ')
        echo "L1 kernel ${kver:-?}($suite)"
        printf '%-30s' scenario
        printf ' %-14s' "${runs[@]}"
        echo
        for f in "${runs[@]}"; do cat "$dir/nested-$f.results"; done |
            sed -n 's/^VMSIX-RESULT name=\([^ ]*\) .*/\1/p' | awk '!s[$0]++' |
            while read -r name; do
                printf '%-30s' "$name"
                for f in "${runs[@]}"; do
                    r=$(sed -n "s/^VMSIX-RESULT name=$name pass=\([^ ]*\).*/\1/p" \
                        "$dir/nested-$f.results" | head -n1)
                    case "$r" in 1) r=pass ;; 0) r=FAIL ;; '') r=- ;; esac
                    printf ' %-14s' "$r"
                done
                echo
            done
        # figure: label, scenario (a prefix), key, and ns shown as ms
        while IFS='|' read -r label scn key; do
            printf '%-30s' "$label"
            for f in "${runs[@]}"; do
                r=$(sed -n "s/^VMSIX-RESULT name=${scn}[^ ]* pass=[^ ]* .*$key=\([0-9]*\).*/\1/p" \
                    "$dir/nested-$f.results" | head -n1)
                case "$key" in *ns*) [ -z "$r" ] || r=$(awk -v n="$r" 'BEGIN { printf "%.1f ms", n / 1e6 }') ;; esac
                printf ' %-14s' "${r:--}"
            done
            echo
        done <<'FIGURES'
a: enable all vectors|a-vectors-|enable_ns
b: pending bit while masked|b-vector-mask|pba_masked
d: unmask of 1000, 0-7 firing|d-grow|unmask1000_ns
g: mask+unmask pair|g-mask-unmask|ns_per_pair
g: enable+unmask all|g-enable-unmask-all|total_ns
FIGURES
        printf '%-30s' "NORESIZE/policy"
        for f in "${runs[@]}"; do
            r=$(nested_meta_cell "$dir/nested-$f.meta")
            printf ' %-14s' "${r:--}"
        done
        echo
        for f in "${runs[@]}"; do cat "$dir/nested-$f.ioctls" 2>/dev/null; done |
            awk '!s[$1]++ { print $1 }' | while read -r name; do
                printf '%-30s' "SET_IRQS $name"
                for f in "${runs[@]}"; do
                    r=$(awk -v n="$name" '$1 == n { print $3 }' "$dir/nested-$f.ioctls" 2>/dev/null || true)
                    printf ' %-14s' "${r:--}"
                done
                echo
            done
        echo
    done < <(nested_suite_dirs "$VMSIX_BUILD/payload")
}

# window NAME FIELD...: the sum of those counts in the payload's window
# NAME (PAYLOAD-WINDOW lines of L1, see payload/l1-init.sh), or in all
# windows of scenario NAME with "NAME-*", or nothing if the run has none.
window() {
    local w=$1 f v sum=0 re
    shift
    re="^PAYLOAD-WINDOW $w "
    case "$w" in *-\*) re="^PAYLOAD-WINDOW (${w%-\*}|${w%\*}[^ ]*) " ;; esac
    grep -qE "$re" "$results" || return 0
    for f in "$@"; do
        for v in $(grep -E "$re" "$results" | sed -n "s/.* $f \([0-9]*\).*/\1/p"); do
            sum=$((sum + v))
        done
    done
    echo "$sum"
}

# expect_window NAME WANT WHAT FIELD...: the counts sum to WANT
expect_window() {
    local w=$1 want=$2 what=$3 got
    shift 3
    got=$(window "$w" "$@")
    if [ -z "$got" ]; then
        # A scenario run (its letter in ONLY, or all) must have its windows.
        [ -n "$only" ] && [ "${only#*"${w%%-*}"}" = "$only" ] && return 0
        vmsix_die "payload $name: no window $w in L1's trace (log: $log)"
    fi
    [ "$got" = "$want" ] ||
        vmsix_die "payload $name: $w: $what: $got, not $want (log: $log)"
    echo "payload $name: $w: $what: $got"
}

# What the fork's QEMU does in the host and KVM, where the payload cannot
# see it: L2 counts acknowledged LPIs, and two MSIs sent while its vCPU
# is stopped in the trapped unmask would set one pending bit.  So each
# unmask of a pending vector must send exactly one, from QEMU
# (KVM_SIGNAL_MSI) or handed to KVM's irqfd (replay); masks, unmasks and
# growing never touch the host's vectors (the kernel here has no dynamic
# MSI-X on the ITS, so the whole table is the host's from the enable);
# a renumbering is one route commit; and the PBA is trapped as long as
# a vector is masked, and only then.
check_windows() {
    local w alloc pv=0 attempts retry
    alloc=$(sed -n 's/^L2| vfio_pci_msi_engine_init .* allocation per \([a-z]*\)$/\1/p' "$log" | head -n1)
    [ -n "$alloc" ] || vmsix_die "payload $name: the fork traced no allocation policy (log: $log)"
    echo "payload $name: MSI-X host allocation per $alloc"
    [ "$alloc" = vector ] && pv=1
    for w in b-masked c-masked e-masked; do
        expect_window $w 0 "MSIs sent while masked" KVM_SIGNAL_MSI replay
        expect_window $w 0 VFIO_DEVICE_SET_IRQS VFIO_DEVICE_SET_IRQS
    done
    for w in b-unmask c-unmask e-unmask; do
        expect_window $w 1 "MSIs sent at the unmask" KVM_SIGNAL_MSI replay
        expect_window $w 0 VFIO_DEVICE_SET_IRQS VFIO_DEVICE_SET_IRQS
    done
    expect_window d-grow $pv VFIO_DEVICE_SET_IRQS VFIO_DEVICE_SET_IRQS
    expect_window g-mask-unmask 0 "MSIs sent" KVM_SIGNAL_MSI replay
    expect_window g-mask-unmask 0 VFIO_DEVICE_SET_IRQS VFIO_DEVICE_SET_IRQS
    expect_window h-renumber 1 KVM_SET_GSI_ROUTING KVM_SET_GSI_ROUTING
    # The PBA is left to the device only once every vector is unmasked;
    # b and c read it exactly while a vector is masked.
    expect_window g-enable-unmask-all 1 "PBA trap turned off" pba_untrapped
    # A guest masking one of them around each interrupt traps it once,
    # and it stays trapped while the masks go on.
    expect_window g-toggle-live 1 "PBA trap turned on" pba_trapped
    expect_window g-toggle-live 0 "PBA trap turned off" pba_untrapped
    # The function mask with every vector live: the host is not asked
    expect_window g-function-mask-live 0 VFIO_DEVICE_SET_IRQS VFIO_DEVICE_SET_IRQS
    expect_window g-function-mask-live 0 "MSIs sent" KVM_SIGNAL_MSI replay
    # A masked vector's storm (n, only when named): nothing sent until
    # the unmask, which sends one
    if [ "${only#*n}" != "$only" ]; then
        expect_window n-masked-storm 0 "MSIs sent while masked" KVM_SIGNAL_MSI replay
        expect_window n-masked-storm 0 VFIO_DEVICE_SET_IRQS VFIO_DEVICE_SET_IRQS
        expect_window n-unmask 1 "MSIs sent at the unmask" KVM_SIGNAL_MSI replay
    fi
    # Each scenario's VFIO_DEVICE_SET_IRQS, exactly: MSI-X enabled from
    # INTx costs 4 (INTx's trigger and resampler off: 3, MSI-X on: 1),
    # disabled 5 (MSI-X off: 1, INTx back: 4); per table allocation gives
    # the host every vector in that one MSI-X on, per vector allocation
    # one each at its first unmask after the enable.  d enables afresh on
    # each attempt and unmasks 0-7 and 1000; g disables, enables and
    # unmasks all; b, c, e, f and h only mask and unmask.
    # i's switches start from MSI-X on, whatever ran before:
    # MSI-X off, MSI on, MSI off, MSI-X on: 5 + 4 + 5 + 4 per table (per
    # vector, what the re-enabled vectors cost is not pinned down)
    [ $pv = 1 ] ||
        expect_window i-switch 18 VFIO_DEVICE_SET_IRQS VFIO_DEVICE_SET_IRQS
    # l under GICv4: the host dropped the vLPI pending at each mask, and
    # the fork resends one MSI per vector masked while forwarded: one
    # for a vector mask, every vector for the function mask
    # (docs/devel/vmsix-gicv4.rst)
    if [ "$gic" = 4 ]; then
        for w in l-pending-vector-mask l-pending-message-change l-pending-masked-poll; do
            expect_window $w 1 "MSIs resent for a dropped vLPI" KVM_SIGNAL_MSI replay
        done
        expect_window l-pending-function-mask "$vectors" "MSIs resent for dropped vLPIs" KVM_SIGNAL_MSI replay
        # The same with the vLPI on a second vCPU in WFI, unless L2 had
        # only one (then the variant is a SKIP and has no window)
        grep -q '^VMSIX-RESULT name=l-pending-wfi-other-cpu pass=skip ' "$results" ||
            expect_window l-pending-wfi-other-cpu 1 "MSIs resent for a dropped vLPI" KVM_SIGNAL_MSI replay
    fi
    # The totals hold for a whole run: a scenario run alone starts with
    # the MSI-X set-up that a runs otherwise.
    [ -z "$only" ] || return 0
    attempts=$(sed -n 's/^VMSIX-RESULT name=d-grow .* attempt=\([0-9]*\).*/\1/p' "$results")
    # A host that gave part of the table at a's enable is asked again at
    # the first unmask of a vector it did not give: MSI-X off and on, 2
    retry=0
    case "$refuse" in a/VFIO_DEVICE_SET_IRQS/*/+*) retry=2 ;; esac
    expect_window 'a-*' $((4 + retry + pv * vectors)) "VFIO_DEVICE_SET_IRQS in all" VFIO_DEVICE_SET_IRQS
    for w in b c e f h; do
        expect_window "$w-*" 0 "VFIO_DEVICE_SET_IRQS in all" VFIO_DEVICE_SET_IRQS
    done
    [ -z "$attempts" ] ||
        expect_window 'd-*' $((attempts * (9 + pv * 9))) "VFIO_DEVICE_SET_IRQS in all ($attempts attempts)" VFIO_DEVICE_SET_IRQS
    expect_window 'g-*' $((9 + pv * vectors)) "VFIO_DEVICE_SET_IRQS in all" VFIO_DEVICE_SET_IRQS
}

# Several devices whose vectors, all enabled and unmasked, outnumber
# KVM's MSI routes (4096 on arm64): every raise still arrives exactly
# once (each device's a-vectors passed), the vectors without a route are
# served by QEMU, each traced, and reported once per device that has any.
check_exhaustion() {
    local refused reports devs
    refused=$(grep -c 'msix_eventfds_fallback .*vector [0-9]*: ' "$log" || true)
    reports=$(grep -cE ': vector [0-9]+: .*; its interrupts, and those of any vector refused later, go through QEMU$' "$log" || true)
    devs=$(grep -E ': vector [0-9]+: .*; its interrupts, and those of any vector refused later, go through QEMU$' "$log" |
        sed -E 's/.* ([^ ]+): vector [0-9]+: .*/\1/' | sort -u | wc -l)
    echo "payload $name: vectors without a KVM route: $refused; reports: $reports from $devs devices"
    [ $((devices * vectors)) -le 4096 ] && return 0
    [ "$refused" -ge $((devices * vectors - 4096)) ] ||
        vmsix_die "payload $name: $refused vectors without a KVM route, fewer than the $((devices * vectors - 4096)) beyond KVM's 4096 (log: $log)"
    [ "$reports" -ge 1 ] && [ "$reports" = "$devs" ] ||
        vmsix_die "payload $name: $reports route reports from $devs devices, not one per device (log: $log)"
    check_exhaustion_qmp
}

# L1's QMP (payload/l1-init.sh): per device tdN, x-query-msix counts as
# many fallbacks as the trace has lines, and a device with any sent at
# least one MSIX_VECTOR_FALLBACK event naming it, throttled: far fewer
# events than fallbacks.
check_exhaustion_qmp() {
    local n bdf traced reply counted delivered events rounds
    rounds=$(sed -n 's/^VMSIX-RESULT name=a-vectors-[0-9]* pass=1 .* rounds=\([0-9]*\) .*/\1/p' "$results" | head -n1)
    [ -n "$rounds" ] || vmsix_die "payload $name: no rounds in a's results (log: $log)"
    for ((n = 1; n <= devices; n++)); do
        bdf=$(sed -n "s/^PAYLOAD-L1 qemu .*vfio-pci,host=\([^,]*\),bus=rp$n,id=td$n.*/\1/p" "$log")
        [ -n "$bdf" ] || vmsix_die "payload $name: no td$n in L1's QEMU command line (log: $log)"
        traced=$(grep -c "msix_eventfds_fallback $bdf vector " "$log" || true)
        # QMP prints an object's members in no set order
        reply=$({ grep "^QMP| {\"return\": \[.*\"id\": \"td$n\"" "$log" || true; } | tail -n1)
        counted=$(sed -n 's/.*"totals": {[^}]*"fallbacks": \([0-9]*\).*/\1/p' <<<"$reply")
        delivered=$(sed -n 's/.*"totals": {[^}]*"delivered": \([0-9]*\).*/\1/p' <<<"$reply")
        events=$(grep -c "^QMP| .*\"event\": \"MSIX_VECTOR_FALLBACK\".*\"device\": \"td$n\"" "$log" || true)
        echo "payload $name: td$n ($bdf): fallbacks traced $traced, in x-query-msix ${counted:-none} (delivered by QEMU ${delivered:-none}), events $events"
        [ "$counted" = "$traced" ] ||
            vmsix_die "payload $name: td$n: x-query-msix counts ${counted:-no} fallbacks, the trace $traced (log: $log)"
        # Scenario a raises each vector once a round: QEMU sent the
        # fallen-back vectors' MSIs, each round
        [ "$delivered" = $((counted * rounds)) ] ||
            vmsix_die "payload $name: td$n: QEMU delivered ${delivered:-no} MSIs for $counted vectors over $rounds rounds (log: $log)"
        if [ "$traced" -gt 0 ]; then
            [ "$events" -ge 1 ] && [ "$events" -le 32 ] ||
                vmsix_die "payload $name: td$n: $events MSIX_VECTOR_FALLBACK events for $traced fallbacks (log: $log)"
        else
            [ "$events" = 0 ] ||
                vmsix_die "payload $name: td$n: $events MSIX_VECTOR_FALLBACK events without a fallback (log: $log)"
        fi
    done
}

# The ivshmem run (payload/l1-init.sh): L2's iv-late and iv-refused
# pass, and KVM's refusal of routes is reported once for each device it
# refused any to: iv2, whose routes fill the table, and iv3, which finds
# it full.
check_ivshmem() {
    local reports
    reports=$({ grep -E '^L2\| [^ ]+: [^ ]+: vector [0-9]+: cannot add its KVM MSI route: .*; its interrupts, and those of any vector KVM refuses later, go through QEMU$' "$log" || true; } |
        sed -E 's/^L2\| [^ ]+: ([^ ]+): .*/\1/' | tr '\n' ' ')
    echo "payload $name: route refusals reported by: ${reports:-none}"
    case "${only:-m}" in
    *m*)
        grep -qE '^L2\| [^ ]+: iv4: vector 1: cannot attach its KVM irqfd: .*; its interrupts, and those of any vector KVM refuses later, go through QEMU$' "$log" ||
            vmsix_die "payload $name: iv4's refused irqfd (a shared eventfd) was not reported (log: $log)"
        echo "payload $name: iv4's refused irqfd reported"
        ;;
    esac
    case "${only:-k}" in *k*) ;; *) return 0 ;; esac
    [ "$reports" = "iv2 iv3 " ] ||
        vmsix_die "payload $name: route refusals reported by '${reports:-none}', not once each by iv2 and iv3 (log: $log)"
}

# The run's name for its refusals: one word for each rule's ioctl
refuse_tags() {
    local rule
    for rule in ${refuse//,/ }; do
        case "$rule" in
        */VFIO_DEVICE_SET_IRQS/*) printf -- -setirqs ;;
        */KVM_IRQFD/*) printf -- -irqfd ;;
        */KVM_SET_GSI_ROUTING/*) printf -- -routing ;;
        *) usage ;;
        esac
    done
}

# A refusal run (VMSIX_PAYLOAD_REFUSE): the host refused each call it was
# told to, the VM kept running and the guest's interrupts kept arriving
# (every scenario passed, with exact counts; where the host gave only K
# of the N vectors at scenario a's enable, QEMU asked again, once, at the
# unmask of vector K), QEMU reported the first refusal once, and L1's
# x-query-msix counts what the trace shows: the
# vectors QEMU served itself, or the vectors the host did not give, with
# at least one event naming the device.
check_refusals() {
    local rule mark ioctl count result hit report reply got traced events
    for rule in ${refuse//,/ }; do
        IFS=/ read -r mark ioctl count result <<<"$rule"
        hit=$(sed -n "s/^L2| vmsix-refuse: $ioctl refused \([0-9]*\) times$/\1/p" "$log")
        [ "$hit" = "$count" ] ||
            vmsix_die "payload $name: the host refused ${hit:-no} $ioctl, not $count (log: $log)"
        echo "payload $name: $ioctl refused $hit times from mark $mark ($result)"
    done
    case "$refuse" in
    */VFIO_DEVICE_SET_IRQS/*) report='(cannot enable MSI-X in the host|the host has [0-9]+ of the [0-9]+ MSI-X vectors the guest enabled|cannot allocate host MSI-X vector [0-9]+): ' ;;
    *) report=': vector [0-9]+: .*; its interrupts, and those of any vector refused later, go through QEMU$' ;;
    esac
    got=$(grep -cE "^L2\| qemu-system-aarch64: .*$report" "$log" || true)
    [ "$got" = 1 ] ||
        vmsix_die "payload $name: $got reports of the refusal, not 1 (log: $log)"
    echo "payload $name: reported once: $(grep -m1 -E "^L2\| qemu-system-aarch64: .*$report" "$log" | sed 's/^L2| //')"
    reply=$({ grep '^QMP| {"return": \[.*"id": "td1"' "$log" || true; } | tail -n1)
    [ -n "$reply" ] || vmsix_die "payload $name: no x-query-msix reply for td1 (log: $log)"
    case "$refuse" in
    */VFIO_DEVICE_SET_IRQS/*)
        result=${refuse##*/}
        [ "${result#+}" != "$result" ] || return 0
        got=$(sed -n 's/.*"refused-vectors": \([0-9]*\).*/\1/p' <<<"$reply")
        [ "$got" = $((vectors - ${result#+})) ] ||
            vmsix_die "payload $name: x-query-msix counts ${got:-no} refused vectors, not $((vectors - ${result#+})) (log: $log)"
        events=$(grep -c '^QMP| .*"event": "MSIX_HOST_REFUSED".*"device": "td1"' "$log" || true)
        [ "$events" -ge 1 ] ||
            vmsix_die "payload $name: no MSIX_HOST_REFUSED event for td1 (log: $log)"
        echo "payload $name: x-query-msix: $got refused vectors; $events MSIX_HOST_REFUSED events"
        # The host's refusal passed: the first unmask of a vector it did
        # not give asked again, once, and got the whole table, so every
        # scenario passed with exact counts (a: each vector once).
        got=$(grep -c 'vfio_msix_engine_host_retry .* at the unmask of vector ' "$log" || true)
        [ "$got" = 1 ] ||
            vmsix_die "payload $name: QEMU asked the host again $got times, not once (log: $log)"
        grep -qE "vfio_msix_engine_host_retry .* at the unmask of vector ${result#+}([^0-9]|$)" "$log" ||
            vmsix_die "payload $name: QEMU did not ask again at the unmask of vector ${result#+}, the first the host did not give (log: $log)"
        echo "payload $name: asked the host again once, at the unmask of vector ${result#+}; every scenario passed"
        ;;
    *)
        traced=$(grep -c 'msix_eventfds_fallback .*vector [0-9]*: ' "$log" || true)
        got=$(sed -n 's/.*"totals": {[^}]*"fallbacks": \([0-9]*\).*/\1/p' <<<"$reply")
        events=$(grep -c '^QMP| .*"event": "MSIX_VECTOR_FALLBACK".*"device": "td1"' "$log" || true)
        echo "payload $name: vectors served by QEMU: traced $traced, in x-query-msix ${got:-none}; $events MSIX_VECTOR_FALLBACK events"
        [ "$traced" -ge 1 ] && [ "$got" = "$traced" ] ||
            vmsix_die "payload $name: x-query-msix counts ${got:-no} fallbacks, the trace $traced (log: $log)"
        [ "$events" -ge 1 ] && [ "$events" -le 32 ] ||
            vmsix_die "payload $name: $events MSIX_VECTOR_FALLBACK events for $traced fallbacks (log: $log)"
        ;;
    esac
}

# The libvirt run (payload/l1-libvirt.sh): payload/check-libvirt.py
# checks what L1 recorded.
check_libvirt() {
    local policy=table kver
    kver=$(nested_log_kernel "$log")
    ! nested_dynamic_kernel "$kver" || policy=vector
    /usr/bin/python3 "$here/check-libvirt.py" "$log" "$flavor" "$vectors" "$policy" \
        "$libvirt_l2" "$refuse"
}

ivshmem= libvirt=
case "${1:-}" in
run) ;;
ivshmem) ivshmem=1 ;;
libvirt) libvirt=1 ;;
table) table; exit 0 ;;
*) usage ;;
esac
flavor=${2:-}
vectors=${3:-2048}
only=${4:-}
if [ -n "$ivshmem" ]; then
    only=${3:-} vectors=0
    case "$only" in *[!jkm]*) usage ;; esac
fi
# libvirt: scenario a (every vector unmasked and raised) and b (one
# vector masked, raised, unmasked), as the queries' counts expect; or
# the Linux L2 with an e1000e (e1000e's table has 5 vectors)
libvirt_l2=payload
if [ -n "$libvirt" ]; then
    vectors=${3:-64} only=ab
    [ "$vectors" = e1000e ] && libvirt_l2=e1000e vectors=5 only=
fi
nested_flavor_ok "$flavor" || usage
case "$vectors" in ''|*[!0-9]*) usage ;; esac
case "$only" in *[!a-n]*) usage ;; esac
devices=${VMSIX_PAYLOAD_DEVICES:-1}
case "$devices" in ''|0|*[!0-9]*) usage ;; esac
name="$flavor-$vectors${only:+-$only}"
[ "$devices" = 1 ] || name="$name-x$devices"
[ -z "$ivshmem" ] || { name="$flavor-ivshmem${only:+-$only}" devices=0; }
[ -z "$libvirt" ] || name="$flavor-libvirt"
[ "$libvirt_l2" = payload ] || name="$name-$libvirt_l2"
vfio_opts=${VMSIX_PAYLOAD_VFIO:-}
case "$vfio_opts" in *' '*) usage ;; esac
[ -z "$vfio_opts" ] || name="$name-vfio"
refuse=${VMSIX_PAYLOAD_REFUSE:-}
if [ -n "$refuse" ]; then
    case "$refuse" in *[!A-Za-z0-9_/+,-]*) usage ;; esac
    # check_refusals counts per ioctl: one rule each
    [ "$(refuse_tags | tr - '\n' | sort | uniq -d)" = "" ] || usage
    name="$name-refuse$(refuse_tags)"
    # libvirt: one irqfd refused to the payload (payload/check-libvirt.py)
    if [ -n "$libvirt" ]; then
        case "$libvirt_l2/$refuse" in
        payload/*/KVM_IRQFD/1/EBUSY|payload/*/KVM_IRQFD/1/ENOSPC) ;;
        *) usage ;;
        esac
    fi
fi
for g in "${VMSIX_PAYLOAD_G_PAIRS:-1}" "${VMSIX_PAYLOAD_G_RAISES:-1}" "${VMSIX_PAYLOAD_G_TOGGLES:-1}"; do
    case "$g" in ''|0|*[!0-9]*) usage ;; esac
    [ "$g" -le 10000 ] || usage
done
# L2's own watchdog must not end a run before L0's time limit does: a
# run cut short is one that hit the limit (the bench's cap)
l2_watchdog=$((${VMSIX_NESTED_TIMEOUT:-900} + 60))
gic=${VMSIX_PAYLOAD_GIC:-3} l1_gic_append=
case "$gic" in
3) ;;
4) name="$name-gicv4" l1_gic_append=kvm-arm.vgic_v4_enable=1 ;;
*) usage ;;
esac

here="$VMSIX_TOP/tests/nested/payload"
l0_qemu="$VMSIX_BUILD/qemu/fork-native/qemu-system-aarch64"
img="$VMSIX_BUILD/payload/vmsix-payload.img"
ivserver="$VMSIX_BUILD/payload/vmsix-ivshmem-server"
refuser="$VMSIX_BUILD/payload/vmsix-refuse"
ioctls="$out/nested-$name.ioctls"
log="$out/nested-$name.log"
results="$out/nested-$name.results"

[ -x "$l0_qemu" ] || vmsix_die "$l0_qemu is not built"
[ -f "$img" ] || vmsix_die "no payload at $img: run tests/nested/payload/build.sh"
[ -x "$ivserver" ] || vmsix_die "no $ivserver: run tests/nested/payload/build.sh"
[ -x "$refuser" ] || vmsix_die "no $refuser: run tests/nested/payload/build.sh"

mkdir -p "$out"
mapfile -t qemu < <(nested_qemu_files "$flavor")
[ ${#qemu[@]} -gt 0 ] || vmsix_die "no QEMU for $flavor"
read -r kernel _moddir _busybox < <("$VMSIX_TOP/vmsix/guest-assets.sh")
extra=()
if [ -n "$libvirt" ]; then
    mapfile -t extra < <("$VMSIX_TOP/vmsix/guest-assets.sh" debian-libvirt)
    [ ${#extra[@]} -gt 0 ] || vmsix_die "no libvirt for L1"
    extra+=("$here/l1-libvirt.sh=/etc/nested/l1-libvirt.sh")
fi
l0_devs=()
if [ "$libvirt_l2" = e1000e ]; then
    # the nested harness's L2 (tests/nested/l2-init.sh) on L1's kernel
    l2_cpio=$("$VMSIX_TOP/tests/nested/nested.sh" l2-image)
    extra+=("$kernel=/l2/Image" "$l2_cpio=/l2/initrd.cpio")
    l0_devs=(-netdev user,id=net0 -device e1000e,netdev=net0,romfile=)
fi
# shellcheck disable=SC2086
"$VMSIX_TOP/vmsix/initramfs.sh" "$out/l1-$flavor.cpio" "$here/l1-init.sh" \
    $NESTED_L1_MODULES -- \
    "$VMSIX_TOP/tests/nested/scenarios.sh=/etc/nested/scenarios.sh" \
    "$VMSIX_TOP/tests/nested/l1-qmp.sh=/etc/nested/l1-qmp.sh" \
    "$img=/l2/payload.img" "$ivserver=/bin/vmsix-ivshmem-server" "$refuser=/bin/vmsix-refuse" \
    "${qemu[@]}" ${extra[@]+"${extra[@]}"}

if [ "$libvirt_l2" = payload ]; then
    for ((i = 0; i < devices; i++)); do
        l0_devs+=(-device "msix-testdev,vectors=$vectors,msi=on")
    done
fi
vmsix_info "payload $name: L0 TCG -> L1 KVM -> L2 payload with vfio-pci ($log)"
rc=0
rm -f "$results"
timeout "${VMSIX_NESTED_TIMEOUT:-900}" "$l0_qemu" \
    -M virt,virtualization=on,gic-version=$gic,iommu=smmuv3 \
    -cpu max -accel tcg,thread=multi -smp 2 -m 3G \
    -nodefaults -display none -serial stdio -no-reboot \
    -kernel "$kernel" -initrd "$out/l1-$flavor.cpio" \
    -append "console=ttyAMA0 rdinit=/init panic=-1 quiet vmsix.flavor=$flavor vmsix.vectors=$vectors vmsix.devices=$devices vmsix.auto_us=${VMSIX_PAYLOAD_AUTO_US:-50000} vmsix.g_pairs=${VMSIX_PAYLOAD_G_PAIRS:-1000} vmsix.g_raises=${VMSIX_PAYLOAD_G_RAISES:-200} vmsix.g_toggles=${VMSIX_PAYLOAD_G_TOGGLES:-2} vmsix.watchdog=$l2_watchdog vmsix.only=$only ${ivshmem:+vmsix.ivshmem=1} $l1_gic_append ${vfio_opts:+vmsix.vfio=$vfio_opts} ${refuse:+vmsix.refuse=$refuse} ${libvirt:+vmsix.libvirt=1 vmsix.libvirt_l2=$libvirt_l2} ${VMSIX_PAYLOAD_PROFILE:+vmsix.profile=$VMSIX_PAYLOAD_PROFILE} ${VMSIX_NESTED_APPEND:-}" \
    "${l0_devs[@]}" </dev/null >"$log.raw" 2>&1 || rc=$?
tr -d '\r' <"$log.raw" >"$log"
rm -f "$log.raw"
grep -E '^(PAYLOAD-L1|PAYLOAD-WINDOW|PAYLOAD-PROFILE|PAYLOAD-SYSCALLS|L2\| (PASS|FAIL|SKIP|VMSIX-SUMMARY|vmsix-payload|d-grow|[0-9]+ passed))' "$log" || true
{
    sed -n 's/^L2| \(VMSIX-RESULT .*\)/\1/p' "$log"
    grep '^PAYLOAD-WINDOW ' "$log" || true
} >"$results"
# Each window's VFIO_DEVICE_SET_IRQS, for the table
sed -n 's/^PAYLOAD-WINDOW \([^ ]*\) VFIO_DEVICE_SET_IRQS \([0-9]*\) .*/\1 VFIO_DEVICE_SET_IRQS \2/p' \
    "$log" >"$ioctls"
nested_write_meta "$log" > "$out/nested-$name.meta"
echo "payload $name: $(nested_msix_summary "$log")"
# The bench tells a run cut short by the time limit (its cap) by 124
if [ "$rc" = 124 ]; then
    echo "payload $name: L0 reached the time limit (${VMSIX_NESTED_TIMEOUT:-900} s)" >&2
    exit 124
fi
[ "$rc" = 0 ] || vmsix_die "payload $name: L0 exited with status $rc"
if [ -n "$libvirt" ]; then
    check_libvirt || { tail -n 40 "$log"; vmsix_die "payload $name: failed (log: $log)"; }
    echo "payload $name: OK"
    exit 0
fi
# QEMU 10.0's ivshmem aborts at the first unmask of a vector without an
# eventfd (iv-late), which is what the fork fixes: recorded, not failed.
# So does stock on a refused route commit: recorded too.
if { [ -n "$ivshmem" ] || [ -n "$refuse" ]; } && [ "$flavor" != fork ] &&
   ! grep -q '^PAYLOAD-L1 l2-exit 0$' "$log"; then
    echo "payload $name: L2's QEMU exited with $(sed -n 's/^PAYLOAD-L1 l2-exit //p' "$log"): $(grep -m1 -E '^L2\| .*(Assertion|Aborted)' "$log" || echo 'no assertion printed')"
    echo "payload $name: OK (recorded)"
    exit 0
fi
grep -q '^PAYLOAD-L1 l2-exit 0$' "$log" ||
    vmsix_die "payload $name: L2's QEMU did not exit cleanly (log: $log)"
grep -qE '^L2\| [0-9]+ passed, [0-9]+ failed$' "$log" ||
    vmsix_die "payload $name: L2 did not complete its scenarios (log: $log)"
if [ -z "$ivshmem" ]; then
    why=$(nested_msix_expected "$log" "$flavor") ||
        vmsix_die "payload $name: $why (log: $log)"
fi
if [ "$gic" = 4 ]; then
    grep -qE '^L1-DMESG-END\| .*kvm \[[0-9]+\]: GICv4(\.1)? support enabled' "$log" ||
        vmsix_die "payload $name: L1's KVM does not say it uses GICv4 (log: $log)"
    echo "payload $name: L1's KVM uses GICv4 (direct vLPI injection)"
fi
if ! grep -q 'vmsix.ioctls=off' <<<"${VMSIX_NESTED_APPEND:-}"; then
    grep -q '^PAYLOAD-L1 ioctl-trace lost 0$' "$log" ||
        vmsix_die "payload $name: L1's trace of QEMU's ioctls is missing or lost events (log: $log)"
fi
if [ "$flavor" = fork ]; then
    grep -qE '^L2\| [1-9][0-9]* passed, 0 failed$' "$log" ||
        vmsix_die "payload $name: L2 did not report 'N passed, 0 failed' (log: $log)"
    # Every scenario it runs must pass: skipped or inconclusive is no pass
    notpass=$(sed -n '/ pass=1 /!s/^VMSIX-RESULT name=\([^ ]*\).*/\1/p' "$results" |
        tr '\n' ' ')
    [ -z "$notpass" ] ||
        vmsix_die "payload $name: scenarios that did not pass: $notpass(log: $log)"
    if [ -n "$refuse" ]; then
        check_refusals
        check_windows
    elif [ -n "$ivshmem" ]; then
        check_ivshmem
    elif [ "$devices" = 1 ]; then
        check_windows
    else
        check_exhaustion
    fi
else
    echo "payload $name: failed: $(sed -n 's/^VMSIX-RESULT name=\([^ ]*\) pass=0.*/\1/p' \
        "$results" | tr '\n' ' ')"
fi
echo "payload $name: OK"
