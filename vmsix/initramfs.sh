#!/usr/bin/env bash
# Build a small arm64 initramfs: busybox, an /init script and the named
# kernel modules with everything they depend on.  Compressed modules
# (.ko.xz, as kernels from 6.x ship them) are stored decompressed, since
# busybox's modprobe may not read xz; modules.dep is rewritten to match.
#
# usage: vmsix/initramfs.sh OUT.cpio INIT-SCRIPT [MODULE...] [-- FILE=DEST...]
set -euo pipefail
. "$(dirname "$0")/lib.sh"

out=$1 init=$2
shift 2
read -r _kernel moddir busybox < <("$VMSIX_TOP/vmsix/guest-assets.sh")
kver=$(basename "$moddir")

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,etc,lib/modules/"$kver"}
cp "$busybox" "$root/bin/busybox"
cp "$init" "$root/init"
chmod +x "$root/init"

# modules.dep lines are "path: dep dep ..."; follow them to a closure.
want=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do want+=("$1"); shift; done
[ "${1:-}" = -- ] && shift
declare -A seen=()
add_module() {
    local name=${1//-/_} line path dep
    line=$(awk -v n="$name" -F: '{ b = $1; sub(/.*\//, "", b); sub(/\.ko(\.[a-z]+)?$/, "", b);
                                   gsub(/-/, "_", b); if (b == n) { print; exit } }' "$moddir/modules.dep")
    [ -n "$line" ] || vmsix_die "module $1 is not in $moddir"
    path=${line%%:*}
    [ -n "${seen[$path]:-}" ] && return 0
    seen[$path]=1
    mkdir -p "$root/lib/modules/$kver/$(dirname "$path")"
    case "$path" in
    *.ko.xz) xz -dc "$moddir/$path" > "$root/lib/modules/$kver/${path%.xz}" ||
                 vmsix_die "cannot decompress $moddir/$path (is xz-utils installed?)" ;;
    *) cp "$moddir/$path" "$root/lib/modules/$kver/$path" ;;
    esac
    for dep in ${line#*:}; do
        dep=$(basename "$dep")
        add_module "${dep%%.ko*}"
    done
}
for m in "${want[@]}"; do
    add_module "$m"
done
cp "$moddir"/modules.{alias,symbols,builtin,order} "$root/lib/modules/$kver/" 2>/dev/null || true
sed 's/\.ko\.xz/.ko/g' "$moddir/modules.dep" > "$root/lib/modules/$kver/modules.dep"

# Extra files: SRC=DEST inside the image.
for f in "$@"; do
    mkdir -p "$root/$(dirname "${f#*=}")"
    cp "${f%%=*}" "$root/${f#*=}"
done

(cd "$root" && find . | cpio -o -H newc --quiet) > "$out.tmp"
mv "$out.tmp" "$out"
