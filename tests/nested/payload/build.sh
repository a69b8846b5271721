#!/usr/bin/env bash
# Build the bare-metal L2 test payload (docs/devel/vmsix-payload.rst).
#
# usage: tests/nested/payload/build.sh [STAMP]
# Output: $VMSIX_BUILD/payload/vmsix-payload.img (an arm64 Image for
# -kernel) and vmsix-payload.elf beside it, and vmsix-ivshmem-server (an
# arm64 Linux program for L1); STAMP is touched on success.
set -euo pipefail
# shellcheck source=vmsix/lib.sh
. "$(dirname "$0")/../../../vmsix/lib.sh"

src="$VMSIX_TOP/tests/nested/payload"
out="$VMSIX_BUILD/payload"
cross=${VMSIX_PAYLOAD_CROSS:-aarch64-linux-gnu-}

command -v "${cross}gcc" >/dev/null ||
    vmsix_die "${cross}gcc not found: run vmsix/deps.sh cross (as root)"
mkdir -p "$out"

cflags=(-O2 -g -std=gnu11 -Wall -Wextra -Werror -Wno-main
        -Wno-unused-parameter -ffreestanding -nostdlib -fno-builtin
        -fno-pic -fno-pie -fno-stack-protector -mgeneral-regs-only
        -mstrict-align -march=armv8-a
        -fno-asynchronous-unwind-tables -fno-unwind-tables)
objs=()
for f in start.S lib.c fdt.c mmu.c gic.c pci.c main.c; do
    o="$out/${f%.*}.o"
    "${cross}gcc" "${cflags[@]}" -c "$src/$f" -o "$o"
    objs+=("$o")
done
# Build to temporary names, so that a failed build never leaves a stale
# image that looks new.
"${cross}gcc" "${cflags[@]}" -static -no-pie -Wl,--build-id=none \
    -Wl,--no-warn-rwx-segments -T "$src/payload.ld" "${objs[@]}" -lgcc \
    -o "$out/vmsix-payload.elf.tmp"
"${cross}objcopy" -O binary "$out/vmsix-payload.elf.tmp" \
    "$out/vmsix-payload.img.tmp"
mv "$out/vmsix-payload.elf.tmp" "$out/vmsix-payload.elf"
mv "$out/vmsix-payload.img.tmp" "$out/vmsix-payload.img"
# The ivshmem run's server, a program of L1 (payload/ivshmem-server.c)
"${cross}gcc" -O2 -g -Wall -Wextra -Werror -static \
    "$src/ivshmem-server.c" -o "$out/vmsix-ivshmem-server.tmp"
mv "$out/vmsix-ivshmem-server.tmp" "$out/vmsix-ivshmem-server"
# The refusal runs' host, a program of L1 (payload/refuse.c)
"${cross}gcc" -O2 -g -Wall -Wextra -Werror -static \
    "$src/refuse.c" -o "$out/vmsix-refuse.tmp"
mv "$out/vmsix-refuse.tmp" "$out/vmsix-refuse"
[ $# -lt 1 ] || touch "$1"
echo "$out/vmsix-payload.img"
