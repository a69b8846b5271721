#!/usr/bin/env bash
# The fork's migration streams are stock's: every device description
# that stock's qemu-system-aarch64 dumps (-dump-vmstate, virt machine:
# each device type's fields, versions and subsections) is the same in
# the fork's, and the fork adds only the devices it alone has.  Then
# scripts/vmstate-static-checker.py, QEMU's own check, finds nothing
# to object to from stock to fork.
set -euo pipefail
# shellcheck source=vmsix/lib.sh
. "$(dirname "$0")/../../vmsix/lib.sh"

out="$VMSIX_BUILD/vmstate"
mkdir -p "$out"
for f in fork stock; do
    qemu="$VMSIX_BUILD/qemu/$f-native/qemu-system-aarch64"
    [ -x "$qemu" ] || vmsix_die "no $qemu: build $f-native first"
    "$qemu" -M virt -nodefaults -display none -dump-vmstate "$out/$f.json"
done
python3 - "$out/stock.json" "$out/fork.json" <<'PY'
import json
import sys

stock, fork = (json.load(open(p)) for p in sys.argv[1:3])
# The fork's own devices (configs/devices/aarch64-softmmu/vmsix.mak's
# "fork-only" lines), which stock cannot migrate either way
fork_only = {'msix-testdev'}
changed = sorted(k for k in stock if k in fork and stock[k] != fork[k])
missing = sorted(k for k in stock if k not in fork)
added = sorted(k for k in fork if k not in stock)
print(f"{len(stock)} device descriptions in stock, {len(fork)} in the fork")
for k in changed:
    print(f"changed: {k}")
for k in missing:
    print(f"missing from the fork: {k}")
for k in added:
    print(f"only in the fork: {k}")
if changed or missing or set(added) - fork_only:
    sys.exit(1)
PY
python3 "$VMSIX_BUILD/src/fork/scripts/vmstate-static-checker.py" \
    -s "$out/stock.json" -d "$out/fork.json"
echo "vmstate-compat: OK"
