#!/usr/bin/env bash
# accel/kvm/kvm-all.c must build for a host whose <linux/kvm.h> lacks
# KVM_CAP_IRQ_ROUTING, which compiles its stubs instead of the routing
# code.  A wrapper header found first on the include path removes the
# capability, then kvm-all.c is compiled with the fork-cross build's own
# command line.
set -euo pipefail
. "$(dirname "$0")/../../vmsix/lib.sh"

bld="$VMSIX_BUILD/qemu/fork-cross"
[ -f "$bld/compile_commands.json" ] || vmsix_die "$bld is not configured: build fork-cross"
shadow=$(mktemp -d)
trap 'rm -rf "$shadow"' EXIT
mkdir -p "$shadow/linux"
cat > "$shadow/linux/kvm.h" <<'H'
#include_next <linux/kvm.h>
#undef KVM_CAP_IRQ_ROUTING
H

/usr/bin/python3 - "$bld/compile_commands.json" "$shadow" <<'PY'
import json, shlex, subprocess, sys
cmds = [e for e in json.load(open(sys.argv[1]))
        if e["file"].endswith("accel/kvm/kvm-all.c")]
if not cmds:
    sys.exit("kvm-all.c is not in the fork-cross build")
e = cmds[0]
argv = shlex.split(e["command"])
out = argv.index("-o")
del argv[out:out + 2]
first_flag = next(i for i, a in enumerate(argv) if a.startswith("-"))
argv[first_flag:first_flag] = ["-I" + sys.argv[2]]
argv += ["-fsyntax-only"]
r = subprocess.run(argv, cwd=e["directory"])
print("ok: kvm-all.c builds without KVM_CAP_IRQ_ROUTING" if r.returncode == 0
      else "FAIL: kvm-all.c does not build without KVM_CAP_IRQ_ROUTING")
sys.exit(r.returncode)
PY
