#!/usr/bin/env bash
# ./qemu-vmsix bench: the fork against stock and the peers in one run, in
# the nested stack (docs/devel/vmsix-bench.rst).
#
# usage: vmsix/bench.sh [--quick]
#
# For each L1 QEMU and each table size, one payload run
# (tests/nested/payload/nested.sh) of scenarios a, g and n (and d where
# the table has a vector 1000): enabling every vector, enabling and unmasking
# every vector, mask+unmask pairs of one vector, raise-to-LPI latency,
# the function mask toggled with every vector live, the first unmask of
# vector 1000 while 0-7 fire, and what a masked vector's storm costs the
# vCPU's accesses to an emulated register.  A run that L0 ends
# at the cap gives what it measured before; the rest is "> cap".
#
#   --quick              fork and stock, 16 vectors: the default tier's
#                        smoke test that the bench works
#   VMSIX_BENCH_QEMUS    the L1 QEMUs (default: fork stock debian-10.0
#                        debian-11.1; --quick: fork stock)
#   VMSIX_BENCH_VECTORS  the table sizes (default: 16 64 256 1024 2048;
#                        --quick: 16)
#   VMSIX_BENCH_CAP      seconds a run may take (default 900)
#   VMSIX_BENCH_SAMPLES  mask+unmask pairs and raises of one vector, each
#                        timed (default 10000; --quick: 1000 and 200);
#                        the function mask is toggled 16 times (--quick: 2)
#   VMSIX_GUEST_SUITE    L1's kernel, as for the nested tier
#
# Output in $VMSIX_BUILD/bench/: results.json (every figure of every
# run), table.md (each figure with the fork's ratio to each QEMU), and
# plots as PNG and SVG.  It never fails on a figure: only when a run of
# the fork does not complete, or the report cannot be made.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$VMSIX_TOP/tests/nested/host.sh"

quick=
case "${1:-}" in
--quick) quick=1 ;;
'') ;;
*) vmsix_die "usage: vmsix/bench.sh [--quick]" ;;
esac

if [ -n "$quick" ]; then
    qemus=${VMSIX_BENCH_QEMUS:-fork stock}
    sizes=${VMSIX_BENCH_VECTORS:-16}
else
    qemus=${VMSIX_BENCH_QEMUS:-$NESTED_FLAVORS}
    sizes=${VMSIX_BENCH_VECTORS:-16 64 256 1024 2048}
fi
cap=${VMSIX_BENCH_CAP:-900}
pairs=1000 raises=200 toggles=2
[ -n "$quick" ] || pairs=10000 raises=10000 toggles=16
if [ -n "${VMSIX_BENCH_SAMPLES:-}" ]; then
    case "$VMSIX_BENCH_SAMPLES" in *[!0-9]*) vmsix_die "VMSIX_BENCH_SAMPLES must be a number" ;; esac
    [ "$VMSIX_BENCH_SAMPLES" -ge 1 ] && [ "$VMSIX_BENCH_SAMPLES" -le 10000 ] ||
        vmsix_die "VMSIX_BENCH_SAMPLES is not in 1..10000"
    pairs=$VMSIX_BENCH_SAMPLES raises=$VMSIX_BENCH_SAMPLES
fi
case "$cap" in ''|*[!0-9]*) vmsix_die "VMSIX_BENCH_CAP must be a number of seconds" ;; esac
for q in $qemus; do
    nested_flavor_ok "$q" || vmsix_die "unknown QEMU '$q' (one of: $NESTED_FLAVORS)"
done
for n in $sizes; do
    case "$n" in ''|*[!0-9]*) vmsix_die "bad table size '$n'" ;; esac
    [ "$n" -ge 8 ] && [ "$n" -le 2048 ] || vmsix_die "table size $n is not in 8..2048"
done

bench="$VMSIX_BUILD/bench"
runs="$bench/runs"
payload_out=$(nested_suite_dir "$VMSIX_BUILD/payload")
mkdir -p "$runs"
rm -f "$runs"/*

# scenarios SIZE: d needs a vector 1000 and eight below it that fire; n
# (the masked storm) runs only when named
scenarios() {
    if [ "$1" -gt 1000 ]; then echo adgn; else echo agn; fi
}

fork_failed=0
for n in $sizes; do
    for q in $qemus; do
        only=$(scenarios "$n")
        name="$q-$n-$only"
        start=$(date +%s)
        rc=0
        VMSIX_NESTED_TIMEOUT=$cap VMSIX_PAYLOAD_G_PAIRS=$pairs VMSIX_PAYLOAD_G_RAISES=$raises \
            VMSIX_PAYLOAD_G_TOGGLES=$toggles \
            "$VMSIX_TOP/tests/nested/payload/nested.sh" run "$q" "$n" "$only" \
            >"$runs/$name.out" 2>&1 || rc=$?
        secs=$(($(date +%s) - start))
        status=ok
        if [ $rc = 124 ]; then
            status=capped
        elif [ $rc != 0 ]; then
            status=failed
        fi
        cp "$payload_out/nested-$name.results" "$runs/$name.results" 2>/dev/null ||
            : >"$runs/$name.results"
        cp "$payload_out/nested-$name.meta" "$runs/$name.meta" 2>/dev/null ||
            : >"$runs/$name.meta"
        printf 'qemu %s\nvectors %s\nstatus %s\nseconds %s\ncap %s\n' \
            "$q" "$n" "$status" "$secs" "$cap" >"$runs/$name.run"
        vmsix_info "bench: $q, $n vectors: $status in $secs s"
        if [ "$q" = fork ] && [ $status != ok ]; then
            fork_failed=1
            tail -n 20 "$runs/$name.out" >&2
        fi
    done
done

/usr/bin/python3 "$VMSIX_TOP/vmsix/bench-report.py" "$runs" "$bench"
[ $fork_failed = 0 ] || vmsix_die "a run of the fork did not complete (see $runs)"
