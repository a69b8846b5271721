#!/usr/bin/env bash
# QEMU's scripts/checkpatch.pl over a patch of the series, or over every
# overlay .c/.h file.  Errors fail; warnings are shown.
#
# usage: vmsix/checkpatch.sh PATCH | --overlay
set -euo pipefail
. "$(dirname "$0")/lib.sh"

src="$VMSIX_BUILD/src/fork"
checkpatch="$src/scripts/checkpatch.pl"
[ -x "$checkpatch" ] || vmsix_die "$checkpatch is missing: run vmsix/prepare-tree.sh fork"

if [ "${1:-}" = --overlay ]; then
    mapfile -t files < <(cd "$VMSIX_TOP" &&
        git ls-files -co --exclude-standard -- $VMSIX_OVERLAY_DIRS | grep -E '\.[ch]$' || true)
    if [ ${#files[@]} = 0 ]; then
        echo "no overlay sources"
        exit 0
    fi
    cd "$VMSIX_TOP"
    exec "$checkpatch" --no-tree --strict -f "${files[@]}"
fi

[ -f "${1:-}" ] || vmsix_die "usage: vmsix/checkpatch.sh PATCH | --overlay"
patch=$(realpath "$1")
cd "$src"
exec "$checkpatch" "$patch"
