#!/usr/bin/env bash
# The qemu-vmsix command line; ./qemu-vmsix at the top of the repository runs it.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

usage() {
    cat <<USAGE
usage: ./qemu-vmsix COMMAND

  demo              build the fork and show an arm64 KVM guest receiving
                    MSI-X from a NIC passed through with vfio-pci (nested)
  test [TIER...]    build what the tiers need and run them (default: all):
                    unit qtest build checkpatch payload nested;
                    nested-full (the slower nested scenarios), sanitize
                    (ASan, UBSan, LSan) and fuzz (VMSIX_FUZZ_TIME
                    seconds a fuzzer) only when named
  bench [--quick]   measure the fork against stock and the peers in the
                    nested stack: _build/bench/ gets results.json,
                    table.md and plots (docs/devel/vmsix-bench.rst)
  build [TARGET...] build fork-native (default), stock-native, fork-cross,
                    stock-cross, fork-asan
  prepare [--discard]   prepare the fork tree in _build/src/fork
  refresh           turn commits in _build/src/fork back into overlay
                    files and patches/ (docs/devel/vmsix-workflow.rst)
  deps              install what is missing (as root)

Environment: VMSIX_BASE=<Debian qemu 10.0.x version> changes the base,
VMSIX_CACHE (default ~/.cache/qemu-vmsix) holds downloads and ccache.
USAGE
}

setup() {
    "$VMSIX_TOP/vmsix/deps.sh" all
    if [ ! -f "$VMSIX_BUILD/build.ninja" ]; then
        meson setup "$VMSIX_BUILD" "$VMSIX_TOP" >/dev/null ||
            vmsix_die "meson setup of $VMSIX_BUILD failed"
    fi
}

build() {
    [ $# -gt 0 ] || set -- fork-native
    meson compile -C "$VMSIX_BUILD" "$@"
}

summary() {
    /usr/bin/python3 - "$VMSIX_BUILD/meson-logs/testlog.json" <<'PY'
import json, sys
passed = failed = skipped = 0
failures = []
for line in open(sys.argv[1]):
    t = json.loads(line)
    r = t["result"]
    if r in ("OK", "EXPECTEDFAIL"):
        passed += 1
    elif r == "SKIP":
        skipped += 1
    else:
        failed += 1
        failures.append(t)
# CI keeps only the end of the output: name what failed, with the end of
# its log, just above the count.
for t in failures:
    print("\nFAILED %s (%s, %.0f s), the end of its output:" %
          (t["name"], t["result"], t.get("duration", 0)))
    out = (t.get("stdout") or "") + "\n" + (t.get("stderr") or "")
    for line in out.splitlines()[-15:]:
        print("    " + line[:160])
print("%d passed, %d failed" % (passed, failed) +
      (", %d skipped" % skipped if skipped else ""))
sys.exit(1 if failed else 0)
PY
}

run_tests() {
    local tiers=("$@") targets=() t
    [ ${#tiers[@]} -gt 0 ] || tiers=(build checkpatch unit qtest payload nested)
    for t in "${tiers[@]}"; do
        case "$t" in
        unit) targets+=(fork-native fork-cross) ;;
        qtest) targets+=(fork-native stock-native) ;;
        build) targets+=(fork-native stock-native fork-cross stock-cross) ;;
        checkpatch) targets+=(fork-native) ;;
        payload) targets+=(fork-native payload) ;;
        nested) targets+=(fork-native fork-cross stock-cross payload) ;;
        nested-full) targets+=(fork-native fork-cross stock-cross payload) ;;
        sanitize|fuzz) targets+=(fork-asan) ;;
        *) vmsix_die "unknown tier '$t' (unit, qtest, build, checkpatch, payload, nested, nested-full, sanitize, fuzz)" ;;
        esac
    done
    setup
    case " ${tiers[*]} " in
    *" sanitize "*|*" fuzz "*) "$VMSIX_TOP/vmsix/deps.sh" sanitize ;;
    esac
    # Build failures are reported by the tests that need the binaries.
    build $(printf '%s\n' "${targets[@]}" | sort -u) || true
    local args=()
    for t in "${tiers[@]}"; do args+=(--suite "$t"); done
    meson test -C "$VMSIX_BUILD" --no-rebuild --print-errorlogs "${args[@]}" || true
    case " ${tiers[*]} " in
    *" nested "*|*" nested-full "*)
        "$VMSIX_TOP/tests/nested/nested.sh" table || true
        "$VMSIX_TOP/tests/nested/payload/nested.sh" table || true
        ;;
    esac
    summary
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
demo)
    setup
    build fork-native fork-cross
    "$VMSIX_TOP/vmsix/demo.sh"
    ;;
test) run_tests "$@" ;;
bench)
    setup
    build fork-native fork-cross stock-cross payload
    "$VMSIX_TOP/vmsix/bench.sh" "$@"
    ;;
build) setup; build "$@" ;;
prepare) "$VMSIX_TOP/vmsix/prepare-tree.sh" fork "$@" ;;
refresh) "$VMSIX_TOP/vmsix/refresh.sh" ;;
deps) "$VMSIX_TOP/vmsix/deps.sh" all ;;
-h|--help|help) usage ;;
*) usage >&2; exit 2 ;;
esac
