#!/usr/bin/env bash
# Run the test payload as L2 of the nested harness (docs/devel/vmsix-nested.rst):
# L0 (fork-native, TCG) has an msix-testdev, L1 (Debian arm64 Linux with
# KVM) passes it to L2 with vfio-pci under the QEMU under test (fork-cross
# or stock-cross), and L2 is the payload, which checks and counts MSI-X.
#
# usage: tests/nested/payload/nested.sh run fork|stock [VECTORS [ONLY]]
#        tests/nested/payload/nested.sh table
#   VECTORS   the device's MSI-X vectors (default 2048)
#   ONLY      the payload's scenario letters to run, e.g. "de" (default all)
#   VMSIX_PAYLOAD_AUTO_US   scenario d's raiser period in L2 (default 50000)
#   VMSIX_NESTED_TIMEOUT    seconds L0 may run (default 900)
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

out="$VMSIX_BUILD/payload"
usage() { vmsix_die "usage: $0 run fork|stock [VECTORS [ONLY]] | table"; }

# table: each scenario's result in each run ("-": not run there).
table() {
    local runs=() f name r
    for f in "$out"/nested-*.results; do
        [ -f "$f" ] || continue
        f=${f##*/nested-}
        runs+=("${f%.results}")
    done
    [ ${#runs[@]} -gt 0 ] || { echo "no nested payload runs yet"; return 0; }
    printf '%-24s' scenario
    printf ' %-14s' "${runs[@]}"
    echo
    for f in "${runs[@]}"; do cat "$out/nested-$f.results"; done |
        sed -n 's/^VMSIX-RESULT name=\([^ ]*\) .*/\1/p' | awk '!s[$0]++' |
        while read -r name; do
            printf '%-24s' "$name"
            for f in "${runs[@]}"; do
                r=$(sed -n "s/^VMSIX-RESULT name=$name pass=\([^ ]*\).*/\1/p" \
                    "$out/nested-$f.results" | head -n1)
                case "$r" in 1) r=pass ;; 0) r=FAIL ;; '') r=- ;; esac
                printf ' %-14s' "$r"
            done
            echo
        done
}

case "${1:-}" in
run) ;;
table) table; exit 0 ;;
*) usage ;;
esac
flavor=${2:-}
vectors=${3:-2048}
only=${4:-}
case "$flavor" in fork|stock) ;; *) usage ;; esac
case "$vectors" in ''|*[!0-9]*) usage ;; esac
case "$only" in *[!a-h]*) usage ;; esac
name="$flavor-$vectors${only:+-$only}"

export VMSIX_GUEST_SUITE=${VMSIX_GUEST_SUITE-bookworm-backports}
here="$VMSIX_TOP/tests/nested/payload"
l0_qemu="$VMSIX_BUILD/qemu/fork-native/qemu-system-aarch64"
l1_qemu="$VMSIX_BUILD/qemu/$flavor-cross/qemu-system-aarch64"
img="$out/vmsix-payload.img"
log="$out/nested-$name.log"
results="$out/nested-$name.results"

[ -x "$l0_qemu" ] || vmsix_die "$l0_qemu is not built"
[ -x "$l1_qemu" ] || vmsix_die "$l1_qemu is not built"
[ -f "$img" ] || vmsix_die "no payload at $img: run tests/nested/payload/build.sh"

read -r kernel _moddir _busybox < <("$VMSIX_TOP/vmsix/guest-assets.sh")
# shellcheck disable=SC2086
"$VMSIX_TOP/vmsix/initramfs.sh" "$out/l1-$flavor.cpio" "$here/l1-init.sh" \
    $NESTED_L1_MODULES -- \
    "$VMSIX_TOP/tests/nested/scenarios.sh=/etc/nested/scenarios.sh" \
    "$l1_qemu=/bin/qemu-system-aarch64" "$img=/l2/payload.img"

vmsix_info "payload $name: L0 TCG -> L1 KVM -> L2 payload with vfio-pci ($log)"
rc=0
rm -f "$results"
timeout "${VMSIX_NESTED_TIMEOUT:-900}" "$l0_qemu" \
    -M virt,virtualization=on,gic-version=3,iommu=smmuv3 \
    -cpu max -accel tcg,thread=multi -smp 2 -m 3G \
    -nodefaults -display none -serial stdio -no-reboot \
    -kernel "$kernel" -initrd "$out/l1-$flavor.cpio" \
    -append "console=ttyAMA0 rdinit=/init panic=-1 quiet vmsix.flavor=$flavor vmsix.vectors=$vectors vmsix.auto_us=${VMSIX_PAYLOAD_AUTO_US:-50000} vmsix.only=$only" \
    -device "msix-testdev,vectors=$vectors" </dev/null >"$log.raw" 2>&1 || rc=$?
tr -d '\r' <"$log.raw" >"$log"
rm -f "$log.raw"
grep -E '^(PAYLOAD-L1|L2\| (PASS|FAIL|SKIP|VMSIX-SUMMARY|vmsix-payload|d-grow|[0-9]+ passed))' "$log" || true
sed -n 's/^L2| \(VMSIX-RESULT .*\)/\1/p' "$log" >"$results"
[ "$rc" = 0 ] || vmsix_die "payload $name: L0 exited with status $rc (124: time limit)"
grep -q '^PAYLOAD-L1 l2-exit 0$' "$log" ||
    vmsix_die "payload $name: L2's QEMU did not exit cleanly (log: $log)"
grep -qE '^L2\| [0-9]+ passed, [0-9]+ failed$' "$log" ||
    vmsix_die "payload $name: L2 did not complete its scenarios (log: $log)"
if [ "$flavor" = fork ]; then
    grep -qE '^L2\| [1-9][0-9]* passed, 0 failed$' "$log" ||
        vmsix_die "payload $name: L2 did not report 'N passed, 0 failed' (log: $log)"
    # Every scenario it runs must pass: skipped or inconclusive is no pass
    notpass=$(sed -n '/ pass=1 /!s/^VMSIX-RESULT name=\([^ ]*\).*/\1/p' "$results" |
        tr '\n' ' ')
    [ -z "$notpass" ] ||
        vmsix_die "payload $name: scenarios that did not pass: $notpass(log: $log)"
else
    echo "payload $name: failed: $(sed -n 's/^VMSIX-RESULT name=\([^ ]*\) pass=0.*/\1/p' \
        "$results" | tr '\n' ' ')"
fi
echo "payload $name: OK"
