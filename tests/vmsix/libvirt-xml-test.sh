#!/usr/bin/env bash
# The example domain XML of docs/system/devices/vfio-msix.rst is one that
# libvirt accepts: virt-xml-validate (libvirt-clients) checks it against
# libvirt's domain schema, and its <qemu:override> sets the fork's
# vfio-pci properties, to values they take, on a device of the domain
# that has a user alias.  Copies with a misspelled element or a bad
# override type must fail the schema, or the validator proves nothing.
#
# usage: tests/vmsix/libvirt-xml-test.sh [FILE]
set -euo pipefail
. "$(dirname "$0")/../../vmsix/lib.sh"

xml=${1:-$VMSIX_TOP/docs/system/devices/vfio-msix-libvirt.xml}
[ -r "$xml" ] || vmsix_die "cannot read $xml"
for t in virt-xml-validate xmllint; do
    command -v $t >/dev/null ||
        vmsix_die "$t is missing: run vmsix/deps.sh native (libvirt-clients, libxml2-utils)"
done
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# The schema's package: libvirt0 on bookworm, libvirt-common from 10.x
rng=/usr/share/libvirt/schemas/domain.rng
pkg=$(dpkg-query -S "$rng" 2>/dev/null | head -n1 | cut -d: -f1 || true)
echo "libvirt schema: $rng of ${pkg:-no package}" \
     "$(dpkg-query -W -f='${Version}' "${pkg:-libvirt0}" 2>/dev/null || true)"

validate() {        # validate FILE: virt-xml-validate's verdict, shown
    local rc=0
    virt-xml-validate "$1" domain >"$scratch/out" 2>&1 || rc=$?
    sed 's/^/  /' "$scratch/out"
    return $rc
}

validate "$xml" || { echo "FAIL: libvirt's schema rejects $xml"; exit 1; }
echo "ok: the schema accepts $(basename "$xml")"

# What the schema cannot see: the override is for a device of this
# domain, under a user alias, and names the fork's properties.
/usr/bin/python3 - "$xml" <<'PY' || exit 1
import sys
import xml.etree.ElementTree as ET

Q = "{http://libvirt.org/schemas/domain/qemu/1.0}"
VALUES = {
    "x-msix-poller": ("bool", ("true", "false")),
    "x-msix-alloc": ("string", ("auto", "table", "vector")),
}
root = ET.parse(sys.argv[1]).getroot()
bad = []
aliases = {a.get("name") for a in root.iterfind("devices/*/alias")}
seen = set()
for dev in root.iterfind(Q + "override/" + Q + "device"):
    alias = dev.get("alias")
    if not alias.startswith("ua-"):
        bad.append("override alias %s is not a user alias (ua-)" % alias)
    if alias not in aliases:
        bad.append("override alias %s names no device of the domain" % alias)
    for p in dev.iterfind(Q + "frontend/" + Q + "property"):
        name, typ, value = p.get("name"), p.get("type"), p.get("value")
        if name not in VALUES:
            continue
        seen.add(name)
        want_type, want_values = VALUES[name]
        if typ != want_type or value not in want_values:
            bad.append("%s: type '%s' value '%s', want type '%s' and one of %s"
                       % (name, typ, value, want_type, "|".join(want_values)))
for name in sorted(set(VALUES) - seen):
    bad.append("no override sets %s" % name)
for b in bad:
    print("FAIL: " + b)
if bad:
    sys.exit(1)
print("ok: the override sets %s on %s"
      % (", ".join(sorted(seen)), ", ".join(sorted(aliases))))
PY

# The validator must tell: a misspelled element and an override type
# that libvirt does not know are both refused.
i=0
for edit in 's/<hostdev /<hostdevice /; s/<\/hostdev>/<\/hostdevice>/' \
            "s/type='bool'/type='boolean'/"; do
    i=$((i + 1))
    sed "$edit" "$xml" > "$scratch/bad$i.xml"
    cmp -s "$xml" "$scratch/bad$i.xml" &&
        { echo "FAIL: '$edit' changed nothing in $(basename "$xml")"; exit 1; }
    if validate "$scratch/bad$i.xml"; then
        echo "FAIL: the schema accepts a copy edited with '$edit'"
        exit 1
    fi
    echo "ok: the schema refuses a copy edited with '$edit'"
done
