#!/usr/bin/env bash
# Run one test of the top-level meson.build.
#
# usage: vmsix/run-test.sh unit|qtest NAME
#        vmsix/run-test.sh migrate fork|stock fork|stock   (source, destination)
#        vmsix/run-test.sh binary fork-native|stock-native|fork-cross|stock-cross
#        vmsix/run-test.sh upstream-qtest
#        vmsix/run-test.sh checkpatch-patch PATCH | checkpatch-overlay
#        vmsix/run-test.sh kvm-no-irq-routing-build | kvm-x86-build
set -euo pipefail
. "$(dirname "$0")/lib.sh"

what=$1
shift
native="$VMSIX_BUILD/qemu/fork-native"

case "$what" in
unit)
    exec "$native/tests/unit/$1" --tap -k
    ;;
qtest)
    export QTEST_QEMU_BINARY="$native/qemu-system-aarch64"
    exec "$native/tests/qtest/$1" --tap -k
    ;;
migrate)
    # msix-migrate-test from one native build to the other
    export QTEST_QEMU_BINARY="$native/qemu-system-aarch64"
    export QTEST_QEMU_BINARY_SRC="$VMSIX_BUILD/qemu/$1-native/qemu-system-aarch64"
    export QTEST_QEMU_BINARY_DST="$VMSIX_BUILD/qemu/$2-native/qemu-system-aarch64"
    for b in "$QTEST_QEMU_BINARY_SRC" "$QTEST_QEMU_BINARY_DST"; do
        [ -x "$b" ] || vmsix_die "no $b"
    done
    exec "$native/tests/qtest/msix-migrate-test" --tap -k
    ;;
binary)
    exec "$VMSIX_TOP/vmsix/check-binary.sh" "$1"
    ;;
upstream-qtest)
    exec "$VMSIX_TOP/vmsix/qtest-regression.sh"
    ;;
checkpatch-patch)
    exec "$VMSIX_TOP/vmsix/checkpatch.sh" "$VMSIX_TOP/patches/$1"
    ;;
checkpatch-overlay)
    exec "$VMSIX_TOP/vmsix/checkpatch.sh" --overlay
    ;;
kvm-no-irq-routing-build)
    exec "$VMSIX_TOP/tests/vmsix/kvm-no-irq-routing-build.sh"
    ;;
kvm-x86-build)
    exec "$VMSIX_TOP/tests/vmsix/kvm-x86-build.sh"
    ;;
*)
    vmsix_die "unknown test kind '$what'"
    ;;
esac
