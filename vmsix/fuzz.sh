#!/usr/bin/env bash
# The fuzz tier: one fuzzer of the fork's asan build for VMSIX_FUZZ_TIME
# seconds (default 180), from the seeds in tests/fuzz/NAME.
#
# usage: vmsix/fuzz.sh msix-engine|generic-virt
#
#   msix-engine   tests/unit/fuzz-msix-engine: the vfio-pci MSI-X engine
#                 and the eventfd layer against their reference model
#   generic-virt  QEMU's generic-fuzz over the virt machine with the ITS,
#                 msix-testdev in eventfd mode in each layout with MSI and
#                 MSI-X, virtio-net-pci and virtio-blk-pci
#
# Each run starts from the seeds alone: what it finds goes to
# _build/fuzz/NAME/corpus, a crash to _build/fuzz/NAME/ (libFuzzer's
# crash-* file, which "FUZZER FILE" replays).  The last line gives the
# run's figures: executions, executions per second, coverage (libFuzzer's
# cov and ft) and the corpus.  A crash or a sanitizer report fails.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

name=${1:-}
bld="$VMSIX_BUILD/qemu/fork-asan"
secs=${VMSIX_FUZZ_TIME:-180}
seeds="$VMSIX_TOP/tests/fuzz/$name"
work="$VMSIX_BUILD/fuzz/$name"

case "$name" in
msix-engine)
    cmd=("$bld/tests/unit/fuzz-msix-engine")
    ;;
generic-virt)
    # On the root bus: generic-fuzz enumerates bus 0 only.  Each
    # msix-testdev has its table and PBA in another layout.
    args="-machine virt,gic-version=3,its=on -nodefaults"
    devfn=1
    for layout in own-bar shared-bar same-page split-bar; do
        args+=" -device msix-testdev,addr=$devfn.0,layout=$layout,vectors=$((devfn * 12)),msi=on,eventfd=on"
        devfn=$((devfn + 1))
    done
    args+=" -device virtio-net-pci,addr=5.0"
    args+=" -drive if=none,id=d0,file=null-co://,format=raw"
    args+=" -device virtio-blk-pci,addr=6.0,drive=d0"
    export QEMU_FUZZ_ARGS="$args"
    export QEMU_FUZZ_OBJECTS="msix-testdev virtio-net-pci virtio-blk-pci arm-gicv3-its"
    cmd=("$bld/qemu-fuzz-aarch64" --fuzz-target=generic-fuzz)
    ;;
*)
    vmsix_die "usage: vmsix/fuzz.sh msix-engine|generic-virt"
    ;;
esac
[ -x "${cmd[0]}" ] || vmsix_die "${cmd[0]} is not built: build fork-asan first"
[ -d "$seeds" ] || vmsix_die "no seeds in $seeds"

rm -rf "$work"
mkdir -p "$work/corpus"
vmsix_sanitizer_env
vmsix_info "fuzzing $name for $secs s from $(ls "$seeds" | wc -l) seeds"
rc=0
"${cmd[@]}" -max_total_time="$secs" -print_final_stats=1 -print_coverage=1 \
    -artifact_prefix="$work/" "$work/corpus" "$seeds" >"$work/log" 2>&1 || rc=$?

# libFuzzer's last status line ("#N DONE cov: C ft: F corp: K/S ...")
# and final statistics
last=$(grep -E '^#[0-9]+' "$work/log" | tail -n1 || true)
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/log")
inited=$(grep -E '^#[0-9]+[[:space:]]+INITED' "$work/log" | sed -n 's/.* cov: \([0-9]*\) ft: \([0-9]*\).*/cov \1, ft \2/p' | head -n1)
cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9]*[a-zA-Z]*\).*/\1/p' <<<"$last")
if [ "$rc" -ne 0 ] || grep -qE '^==[0-9]+==ERROR|runtime error:|fuzz-msix-engine: ' "$work/log"; then
    grep -E -A40 '^==[0-9]+==ERROR|runtime error:|fuzz-msix-engine: |deadly signal' "$work/log" | head -n 80 >&2 || true
    ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* 2>/dev/null >&2 || true
    vmsix_die "fuzz $name: failed (status $rc) after ${execs:-?} executions; the whole log is $work/log"
fi
# How much of the patched files the run reached: libFuzzer's COVERED_FUNC
# and UNCOVERED_FUNC lines give each function's edges ("edges: A/B") and
# file; summed per file
reached=$(awk '/^(UN)?COVERED_FUNC: / {
        split($5, e, "/")
        file = $NF
        sub(/:[0-9]+$/, "", file)
        sub(/.*\/src\/fork\//, "", file)
        if (file ~ /^hw\/(pci\/msix|pci\/msi\.c|virtio\/virtio-pci|misc\/msix-testdev|vfio\/msix-engine|intc\/arm_gicv3_its\.c)/) {
            hit[file] += e[1]
            all[file] += e[2]
        }
    }
    END { for (f in hit) printf "%s %d/%d edges\n", f, hit[f], all[f] }' "$work/log" |
    sort | paste -sd ';' | sed 's/;/; /g')
[ -z "$reached" ] || echo "fuzz $name: functions reached: $reached"
echo "fuzz $name: ${execs:-?} executions in $secs s (${rate:-?}/s), cov ${cov:-?}, ft ${ft:-?}, corpus ${corp:-?}; from the $(ls "$seeds" | wc -l) seeds alone: ${inited:-?}"
