#!/usr/bin/env bash
# The +ds source has no firmware blobs or option ROMs.  Link Debian's
# (ipxe-qemu, qemu-efi-aarch64) where a build tree's QEMU looks for them.
#
# usage: vmsix/firmware.sh BUILD-DIR
set -euo pipefail
. "$(dirname "$0")/lib.sh"

dest="$1/qemu-bundle/usr/local/share/qemu"
mkdir -p "$dest"
shopt -s nullglob
roms=(/usr/lib/ipxe/qemu/efi-*.rom)
[ ${#roms[@]} -gt 0 ] || vmsix_die "no /usr/lib/ipxe/qemu/efi-*.rom: run vmsix/deps.sh as root"
[ -f /usr/share/AAVMF/AAVMF_CODE.fd ] ||
    vmsix_die "no /usr/share/AAVMF/AAVMF_CODE.fd: run vmsix/deps.sh as root"
for r in "${roms[@]}"; do
    ln -sfn "$r" "$dest/$(basename "$r")"
done
ln -sfn /usr/share/AAVMF/AAVMF_CODE.fd "$dest/edk2-aarch64-code.fd"
