#!/usr/bin/env bash
# The upstream qtest-aarch64 suite as a regression gate: nothing that
# passes on stock may fail on the fork.  Stock's results do not change for
# a given base and device list, so they are cached.
#
# usage: vmsix/qtest-regression.sh
set -euo pipefail
. "$(dirname "$0")/lib.sh"

results() {     # results BUILD-DIR -> "name status" lines
    /usr/bin/python3 - "$1/meson-logs/testlog.json" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    t = json.loads(line)
    print(t["name"].split("/")[-1].strip(), t["result"])
PY
}

# run_suite FLAVOR OUT: run the suite on FLAVOR's native build and write
# its results to OUT, or stop if the run did not give every test of the
# suite a result (the build failed, meson stopped half-way).
run_suite() {
    local bld="$VMSIX_BUILD/qemu/$1-native" rc=0 want got
    local log="$bld/meson-logs/testlog.json"
    vmsix_info "upstream qtest-aarch64 on $1"
    # meson test rewrites the testlog only when it runs tests: a log left
    # by an earlier run must not stand in for this one.
    rm -f "$log"
    # meson test builds what the suite needs, then runs it.  Its status
    # is the number of failed tests, or 125 if the build failed.
    (cd "$bld" && vmsix_use_ccache && meson test --suite qtest-aarch64 --num-processes "$(nproc)" \
        --print-errorlogs -q >"$bld/qtest-aarch64.log" 2>&1) || rc=$?
    [ -s "$log" ] ||
        vmsix_die "upstream qtest-aarch64 did not run on $1 (meson test status $rc): see $bld/qtest-aarch64.log"
    results "$bld" > "$2"
    want=$(cd "$bld" && meson test --list --suite qtest-aarch64 2>/dev/null | grep -c .) || true
    got=$(grep -c . "$2") || true
    [ "$got" = "$want" ] ||
        vmsix_die "upstream qtest-aarch64 on $1: $got of its $want tests have a result (meson test status $rc): see $bld/qtest-aarch64.log"
}

"$VMSIX_TOP/vmsix/firmware.sh" "$VMSIX_BUILD/qemu/fork-native"
"$VMSIX_TOP/vmsix/firmware.sh" "$VMSIX_BUILD/qemu/stock-native"

# The stock tree's inputs (base version and device list) name its results.
stock_key=$(sed -n 's/^inputs //p' "$VMSIX_BUILD/src/stock.stamp" | cut -c1-16)
[ -n "$stock_key" ] || vmsix_die "the stock tree is not prepared"
stock_cache="$VMSIX_CACHE/results/qtest-aarch64-stock-$stock_key.txt"
stock_results="$VMSIX_BUILD/qemu/stock-native/qtest-aarch64.results"
if [ ! -s "$stock_cache" ]; then
    # Only a complete run is cached (run_suite stops on any other), and
    # not one where a test timed out: that says more about the load of
    # the machine than about stock, and would excuse the fork's test
    # for good.
    run_suite stock "$stock_results"
    if grep -q ' TIMEOUT$' "$stock_results"; then
        vmsix_info "stock results not cached: $(grep -c ' TIMEOUT$' "$stock_results") test(s) timed out"
    else
        mkdir -p "$(dirname "$stock_cache")"
        cp "$stock_results" "$stock_cache.$$"
        mv "$stock_cache.$$" "$stock_cache"
    fi
else
    vmsix_info "stock results cached in $stock_cache"
    cp "$stock_cache" "$stock_results"
fi
run_suite fork "$VMSIX_BUILD/qemu/fork-native/qtest-aarch64.results"

/usr/bin/python3 - "$stock_results" "$VMSIX_BUILD/qemu/fork-native/qtest-aarch64.results" <<'PY'
import sys
def load(p):
    return dict(l.split() for l in open(p) if l.strip())
stock, fork = load(sys.argv[1]), load(sys.argv[2])
names = sorted(set(stock) | set(fork))
print("%-36s %-8s %-8s" % ("upstream qtest-aarch64", "stock", "fork"))
bad = []
for n in names:
    s, f = stock.get(n, "-"), fork.get(n, "-")
    print("%-36s %-8s %-8s" % (n, s, f))
    if s == "OK" and f != "OK":
        bad.append(n)
if not fork:
    print("FAIL: the fork ran no upstream qtest")
    sys.exit(1)
if bad:
    print("FAIL: pass on stock, not on the fork: " + ", ".join(bad))
    sys.exit(1)
print("ok: no regression against stock (%d tests)" % len(names))
PY
