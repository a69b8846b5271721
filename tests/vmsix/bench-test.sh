#!/usr/bin/env bash
# The bench works (vmsix/bench.sh, docs/devel/vmsix-bench.rst).  Never a
# pass or fail on a time: only that the figures are there.
#
# usage: tests/vmsix/bench-test.sh report|quick
#   report  bench-report.py on made-up runs: a complete one, one L0 ended
#           at the cap, one that failed; every figure, "> cap", the
#           ratios, the plots
#   quick   ./qemu-vmsix bench --quick in the nested stack: a run L0 ends
#           at the cap is reported as capped; fork and stock each give
#           every figure of their 16-vector run, and the fork passes
#           every scenario
set -euo pipefail
. "$(dirname "$0")/../../vmsix/lib.sh"

fail() { echo "FAIL: $*"; exit 1; }

# check_report OUT QEMU...: each QEMU's run is complete in OUT
check_report() {
    local out=$1
    shift
    for f in results.json table.md enable-unmask-all.png enable-unmask-all.svg \
             mask-unmask-pair.png mask-unmask-pair.svg raise-latency.png \
             raise-latency.svg function-mask-live.png function-mask-live.svg; do
        [ -s "$out/$f" ] || fail "no $out/$f"
    done
    /usr/bin/python3 - "$out/results.json" "$@" <<'PY' || fail "results.json"
import json, sys
runs = json.load(open(sys.argv[1]))["runs"]
want = ["enable_unmask_all_ms", "enable_all_ms", "pair_ms", "pair_p50_ms",
        "pair_p99_ms", "pair_ioctls", "exit_p50_us",
        "pair_beyond_exits_ms", "enable_beyond_exits_ms", "raise_avg_us", "raise_p50_us",
        "raise_p99_us", "raise_max_us", "raise_max_at_ms", "raise_pba_untraps",
        "fmask_ms", "storm_slowdown"]
for q in sys.argv[2:]:
    mine = [r for r in runs if r["qemu"] == q and r["status"] == "ok"]
    if not mine:
        sys.exit("no complete run of %s" % q)
    for r in mine:
        missing = [k for k in want if r["figures"].get(k) is None]
        if missing:
            sys.exit("%s, %d vectors: no %s" % (q, r["vectors"], missing))
        if q == "fork" and r["failed"]:
            sys.exit("fork failed %s" % r["failed"])
PY
}

# A made-up run NAME: QEMU VECTORS STATUS and its results lines (stdin)
fake_run() {
    printf 'qemu %s\nvectors %s\nstatus %s\nseconds 10\ncap 60\n' "$2" "$3" "$4" \
        >"$runs/$1.run"
    printf 'kernel 6.12-test\nnoresize 1\nalloc table\n' >"$runs/$1.meta"
    cat >"$runs/$1.results"
}

results() {     # results VECTORS ENABLE_NS PAIR_NS
    cat <<EOF
VMSIX-RESULT name=a-vectors-$1 pass=1 vectors=$1 enable_ns=$2
VMSIX-RESULT name=g-mask-unmask pass=1 pairs=1000 ns_per_pair=$3 p50_ns=$(($3 / 2)) p99_ns=$(($3 * 3)) max_ns=$(($3 * 9))
VMSIX-RESULT name=g-emulated-read pass=1 reads=1000 changed=0 avg_ns=$(($3 / 80)) p50_ns=$(($3 / 100)) p99_ns=$3 max_ns=$3
VMSIX-RESULT name=g-raise-latency pass=1 raises=200 min_ns=1000 avg_ns=2000 p50_ns=1500 p99_ns=7000 max_ns=9000 max_after_pairs_us=$(($2 / 4000))
VMSIX-RESULT name=g-enable-unmask-all pass=1 vectors=$1 total_ns=$2 exits=$((4 * $1 + 7))
VMSIX-RESULT name=g-function-mask-live pass=1 vectors=$1 toggles=16 ns_per_toggle=$2
VMSIX-RESULT name=n-masked-storm pass=1 window_ms=2000 storm_raises=900 quiet_per_s=$(($2 / 1000)) storm_per_s=1000
PAYLOAD-WINDOW g-mask-unmask VFIO_DEVICE_SET_IRQS 0 KVM_IRQFD 2000 KVM_SET_GSI_ROUTING 0 KVM_SIGNAL_MSI 0
PAYLOAD-WINDOW g-raise-latency VFIO_DEVICE_SET_IRQS 0 KVM_IRQFD 0 KVM_SET_GSI_ROUTING 0 KVM_SIGNAL_MSI 0 replay 0 pba_untrapped $(($2 / 8000000)) pba_trapped 0
EOF
}

case "${1:-}" in
report)
    scratch=$(mktemp -d)
    trap 'rm -rf "$scratch"' EXIT
    runs="$scratch/runs"
    mkdir -p "$runs"
    results 16 4000000 1000000 | fake_run fork-16 fork 16 ok
    results 64 8000000 1000000 | fake_run fork-64 fork 64 ok
    results 16 8000000 4000000 | fake_run stock-16 stock 16 ok
    echo "VMSIX-RESULT name=b-vector-mask pass=1" | fake_run stock-64 stock 64 capped
    # a storm whose count after it failed is still a measurement
    { echo "VMSIX-RESULT name=g-mask-unmask pass=0 pairs=1000 ns_per_pair=5"
      echo "VMSIX-RESULT name=n-masked-storm pass=0 quiet_per_s=3000 storm_per_s=100"; } |
        fake_run peer-16 debian-11.1 16 failed
    /usr/bin/python3 "$VMSIX_TOP/vmsix/bench-report.py" "$runs" "$scratch" >/dev/null
    check_report "$scratch" fork stock
    t="$scratch/table.md"
    grep -qx '| 16 | 4 | 8 | failed | 0.50 | - |' "$t" ||
        fail "enable row of 16 vectors: $(grep '^| 16 ' "$t" | head -n1)"
    # beyond the exits: 4 ms less 71 reads of 0.01 ms (fork), 8 ms less
    # 71 of 0.04 ms (stock)
    grep -A6 '^## enable and unmask every vector, beyond its exits' "$t" |
        grep -qx '| 16 | 3.29 | 5.16 | failed | 0.64 | - |' ||
        fail "enable beyond its exits, 16 vectors"
    grep -qx '| 64 | 8 | > cap | - | - | - |' "$t" ||
        fail "enable row of 64 vectors: $(grep '^| 64 ' "$t" | head -n1)"
    grep -A6 '^## mask+unmask pair of one vector, average (ms)$' "$t" |
        grep -qx '| 16 | 1 | 4 | failed | 0.25 | - |' || fail "pair row of 16 vectors"
    grep -A6 '^## mask+unmask pair of one vector, median (ms)$' "$t" |
        grep -qx '| 16 | 0.5 | 2 | failed | 0.25 | - |' || fail "median pair row of 16 vectors"
    grep -qx '| 16 | 2 | 2 | failed | 1.00 | - |' "$t" || fail "ioctls per pair"
    # beyond the exits: the fork's 0.5 ms pair less two 0.01 ms reads,
    # against stock's 2 ms less two 0.04 ms reads
    grep -A6 '^## mask+unmask pair beyond its two exits' "$t" |
        grep -qx '| 16 | 0.48 | 1.92 | failed | 0.25 | - |' ||
        fail "pair beyond its exits, 16 vectors"
    # the slowest raise 1 and 2 ms after the pairs; one untrap in the
    # fork's 64-vector run (8000000 / 8000000), none in the others
    grep -A6 '^## raise to LPI: when the slowest began' "$t" |
        grep -qx '| 16 | 1 | 2 | failed | 0.50 | - |' || fail "slowest raise's time"
    grep -A6 "^## raise to LPI: the fork's PBA untraps" "$t" |
        grep -qx '| 64 | 1 | > cap | - | - | - |' || fail "untraps during the raises"
    # the storm: 4000 quiet reads over 1000 is a slowdown of 4 (fork),
    # against 8 (stock)
    grep -A6 "^## a masked vector's storm" "$t" |
        grep -qx '| 16 | 4 | 8 | 30 | 0.50 | 0.13 |' || fail "storm row of 16 vectors"
    # the 99th percentiles: the fork's 3 ms pair against stock's 12
    grep -A6 '^## mask+unmask pair of one vector, 99th percentile (ms)$' "$t" |
        grep -qx '| 16 | 3 | 12 | failed | 0.25 | - |' || fail "p99 pair row of 16 vectors"
    grep -qx '| debian-11.1 | 16 | failed | 10 | 1/table | g-mask-unmask n-masked-storm |' "$t" ||
        fail "the failed run's row"
    ;;
quick)
    # A run that L0 ends at the cap is "capped" and "> cap", not failed
    VMSIX_BENCH_CAP=8 VMSIX_BENCH_QEMUS=stock "$VMSIX_TOP/vmsix/bench.sh" --quick
    grep -qx 'status capped' "$VMSIX_BUILD/bench/runs/stock-16-agn.run" ||
        fail "a run ended at the cap: $(grep status "$VMSIX_BUILD/bench/runs/stock-16-agn.run")"
    grep -q '^| stock | 16 | capped | ' "$VMSIX_BUILD/bench/table.md" ||
        fail "table.md does not list the run as capped"
    "$VMSIX_TOP/vmsix/bench.sh" --quick
    check_report "$VMSIX_BUILD/bench" fork stock
    grep -q '^| vectors | fork | stock | fork/stock |$' "$VMSIX_BUILD/bench/table.md" ||
        fail "table.md has no fork/stock ratio"
    ;;
*) vmsix_die "usage: tests/vmsix/bench-test.sh report|quick" ;;
esac
echo "bench $1: ok"
