#!/usr/bin/env bash
# Prepare a tree and build it: the body of the top-level build targets.
#
# usage: vmsix/make.sh fork|stock native|cross STAMP [ninja targets...]
set -euo pipefail
. "$(dirname "$0")/lib.sh"

flavor=$1 kind=$2 stamp=$3
shift 3
"$VMSIX_TOP/vmsix/prepare-tree.sh" "$flavor"
"$VMSIX_TOP/vmsix/build-qemu.sh" "$flavor" "$kind" "$@"
touch "$stamp"
