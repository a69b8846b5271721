#!/usr/bin/env bash
# The sanitize tier's runs on the fork's asan build (clang, ASan, UBSan,
# LeakSanitizer): a report fails the test, for it ends the process.
#
# usage: vmsix/sanitize.sh unit|qtest NAME   one of our tests
#        vmsix/sanitize.sh upstream-qtest    the upstream qtest-aarch64 suite
#
# The upstream suite passes when no test of it has a sanitizer report and
# every test that passes on stock (the qtest tier's cached results, when
# there are any) passes here too.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

bld="$VMSIX_BUILD/qemu/fork-asan"
[ -x "$bld/qemu-system-aarch64" ] || vmsix_die "$bld is not built: build fork-asan first"
vmsix_sanitizer_env

case "${1:-}" in
unit)
    exec "$bld/tests/unit/$2" --tap -k
    ;;
qtest)
    export QTEST_QEMU_BINARY="$bld/qemu-system-aarch64"
    exec "$bld/tests/qtest/$2" --tap -k
    ;;
upstream-qtest)
    ;;
*)
    vmsix_die "usage: vmsix/sanitize.sh unit|qtest NAME | upstream-qtest"
    ;;
esac

"$VMSIX_TOP/vmsix/firmware.sh" "$bld"
log="$bld/meson-logs/testlog.json"
rm -f "$log"
rc=0
(cd "$bld" && vmsix_use_ccache && meson test --suite qtest-aarch64 \
    --num-processes "$(nproc)" --print-errorlogs -q \
    >"$bld/qtest-aarch64.log" 2>&1) || rc=$?
[ -s "$log" ] ||
    vmsix_die "upstream qtest-aarch64 did not run (meson test status $rc): see $bld/qtest-aarch64.log"
want=$(cd "$bld" && meson test --list --suite qtest-aarch64 2>/dev/null | grep -c .) || true

# The stock results the qtest tier cached for this base, if any
stock=$(ls "$VMSIX_CACHE"/results/qtest-aarch64-stock-*.txt 2>/dev/null | head -n1 || true)
/usr/bin/python3 - "$log" "$want" "$stock" <<'PY'
import json, re, sys
log, want, stock = sys.argv[1], int(sys.argv[2]), sys.argv[3]
reports = re.compile(r"ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:")
res, bad, found = {}, [], 0
for line in open(log):
    t = json.loads(line)
    name = t["name"].split("/")[-1].strip()
    res[name] = t["result"]
    n = len(reports.findall(t.get("stdout", "") or ""))
    if n:
        found += n
        bad.append("%s (%d sanitizer reports)" % (name, n))
passed_on_stock = None
if stock:
    passed_on_stock = {l.split()[0] for l in open(stock) if l.split()[1:] == ["OK"]}
for name, r in sorted(res.items()):
    print("%-36s %s" % (name, r))
    if r in ("OK", "SKIP", "EXPECTEDFAIL"):
        continue
    if passed_on_stock is not None and name not in passed_on_stock:
        print("  (not a pass on stock's native build either)")
        continue
    bad.append(name)
print("%d of %d tests ran, %d sanitizer reports" % (len(res), want, found))
if len(res) != want:
    bad.append("%d tests without a result" % (want - len(res)))
if bad:
    print("FAIL: " + ", ".join(bad))
    sys.exit(1)
print("ok: the upstream qtest-aarch64 suite is clean under ASan, UBSan and LSan")
PY
