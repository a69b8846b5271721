#!/usr/bin/env bash
# Boot the L2 test payload directly (no nesting) under TCG with the fork's
# msix-testdev, and check what it reports (docs/devel/vmsix-payload.rst).
#
# usage: tests/nested/payload/run.sh CASE
#   direct       msix-testdevs with 2048, 16 and 256 vectors, one with 64
#                behind a pcie-root-port: every scenario must pass
#   direct-eventfd  the same devices in eventfd mode (eventfd=on), so
#                that every raise goes through the fork's eventfd-backed
#                MSI-X layer (hw/pci/msix-eventfd.c) and its poller
#   no-device    no msix-testdev: a clear message and a power-off
#   no-its       GICv3 without an ITS: a clear message and a power-off
#   wrong-devid  the payload's self-test maps the devices under wrong
#                device IDs: scenarios must fail, and the run must end
# Environment: VMSIX_PAYLOAD_QEMU overrides the QEMU binary (default: the
# fork-native build).
set -euo pipefail
# shellcheck source=vmsix/lib.sh
. "$(dirname "$0")/../../../vmsix/lib.sh"

case_=${1:-}
qemu=${VMSIX_PAYLOAD_QEMU:-$VMSIX_BUILD/qemu/fork-native/qemu-system-aarch64}
img="$VMSIX_BUILD/payload/vmsix-payload.img"
log="$VMSIX_BUILD/payload/run-$case_.log"

[ -x "$qemu" ] || vmsix_die "no QEMU at $qemu: build fork-native first"
[ -f "$img" ] || vmsix_die "no payload at $img: run tests/nested/payload/build.sh"

machine=virt,gic-version=3
eventfd=off
[ "$case_" = direct-eventfd ] && eventfd=on
devices=(-device "msix-testdev,vectors=2048,msi=on,eventfd=$eventfd"
         -device "msix-testdev,vectors=16,eventfd=$eventfd"
         -device "msix-testdev,vectors=256,eventfd=$eventfd"
         -device "pcie-root-port,id=rp,chassis=1"
         -device "msix-testdev,bus=rp,vectors=64,eventfd=$eventfd")
ndevices=4
append="vmsix.expect=16,256,2048"
case "$case_" in
direct|direct-eventfd) ;;
no-device) devices=() ;;
# QEMU refuses an MSI-X device without an MSI controller; the payload
# looks for the ITS before any device anyway.
no-its) machine=virt,gic-version=3,its=off devices=() ;;
wrong-devid) append="vmsix.selftest=wrong-devid vmsix.wait_ms=300" ;;
*) vmsix_die "unknown case '$case_' (direct, direct-eventfd, no-device, no-its, wrong-devid)" ;;
esac

# The payload powers the machine off itself, on success and on failure;
# the time limit only catches a payload that hangs, which is a failure.
rc=0
timeout 300 "$qemu" -M "$machine" -cpu max -accel tcg -smp 2 -m 512M -nodefaults \
    -display none -serial stdio -kernel "$img" -append "$append" \
    "${devices[@]}" </dev/null 2>&1 | tr -d '\r' >"$log" || rc=$?
cat "$log"
[ "$rc" = 0 ] || vmsix_die "$case_: QEMU exited with status $rc (124: the payload hung)"
grep -q '^vmsix-payload: powering off$' "$log" ||
    vmsix_die "$case_: the payload did not power off"

want_fatal() {
    grep -q "^vmsix-payload: FATAL: $1" "$log" ||
        vmsix_die "$case_: expected a fatal message '$1'"
    ! grep -q '^[0-9]* passed, [0-9]* failed$' "$log" ||
        vmsix_die "$case_: the payload ran its scenarios anyway"
}

case "$case_" in
direct|direct-eventfd)
    # Each device is in the mode asked for, as the payload read its
    # FEATURES register: bit 7 eventfd mode, bit 8 delivered by the
    # eventfd-backed MSI-X layer.
    want=0
    [ $eventfd = on ] && want=$((0x180))
    n=0
    while read -r f; do
        [ $((0x$f & 0x180)) = $want ] ||
            vmsix_die "$case_: a msix-testdev has features $f, not eventfd=$eventfd"
        n=$((n + 1))
    done < <(sed -nE 's/^msix-testdev .* features ([0-9a-f]+)$/\1/p' "$log")
    [ $n = $ndevices ] ||
        vmsix_die "$case_: the payload found $n msix-testdevs, not $ndevices"
    grep -qE '^[1-9][0-9]* passed, 0 failed$' "$log" ||
        vmsix_die "$case_: the payload did not report 'N passed, 0 failed'"
    ! grep -q '^FAIL ' "$log" || vmsix_die "$case_: a scenario failed"
    # d-grow is inconclusive, not failed, when a starved vCPU let raises
    # merge in every attempt (docs/devel/vmsix-payload.rst).
    if grep -q '^VMSIX-RESULT name=d-grow pass=skip reason=inconclusive ' "$log"; then
        echo "WARNING: d-grow inconclusive: the host was too loaded"
    else
        grep -q "^VMSIX-RESULT name=d-grow pass=1 " "$log" ||
            vmsix_die "$case_: scenario d-grow did not pass"
    fi
    for s in a-vectors-16 a-vectors-256 a-vectors-2048 b-vector-mask \
             c-function-mask e-change-masked f-bridge-01-00-0 \
             g-emulated-read g-mask-unmask g-raise-latency g-enable-unmask-all \
             g-toggle-live g-function-mask-live l-pending-vector-mask l-pending-function-mask \
             l-pending-message-change l-pending-masked-poll \
             l-pending-wfi-other-cpu; do
        grep -q "^VMSIX-RESULT name=$s pass=1 " "$log" ||
            vmsix_die "$case_: scenario $s did not pass"
    done
    ;;
no-device) want_fatal "no msix-testdev" ;;
no-its) want_fatal "no ITS" ;;
wrong-devid)
    grep -qE '^[0-9]+ passed, [1-9][0-9]* failed$' "$log" ||
        vmsix_die "$case_: the wrong device IDs went unnoticed"
    ! grep -q '^VMSIX-RESULT name=a-vectors-[0-9]* pass=1 ' "$log" ||
        vmsix_die "$case_: a delivery scenario passed with a wrong device ID"
    ;;
esac
echo "payload $case_: OK"
