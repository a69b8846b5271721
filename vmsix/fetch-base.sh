#!/usr/bin/env bash
# Fetch, check and unpack the upstream base: Debian's qemu source package
# with Debian's own patches applied.  The result is cached outside the
# repository as a git repository whose tag "base" is the pristine tree.
#
# usage: vmsix/fetch-base.sh        prints the path of the pristine tree
#   VMSIX_BASE=<debian version>     picks another 10.0.x than the pin
set -euo pipefail
. "$(dirname "$0")/lib.sh"

base=$(vmsix_base_dir)
dl="$VMSIX_CACHE/dl"
ver_noepoch=${VMSIX_BASE#*:}
dsc="$dl/qemu_${ver_noepoch}.dsc"

if [ -f "$base/.vmsix-ready" ]; then
    echo "$base"
    exit 0
fi

for tool in apt-get apt-cache dpkg-source git sha256sum; do
    command -v $tool >/dev/null ||
        vmsix_die "$tool is missing: run vmsix/deps.sh as root"
done

case "$VMSIX_BASE" in
*:10.0.*) ;;
*) vmsix_die "VMSIX_BASE=$VMSIX_BASE is not a qemu 10.0.x Debian version" ;;
esac

available_versions() {
    apt-cache showsrc qemu 2>/dev/null | awk '/^Version:/ { print $2 }' | sort -uV | tr '\n' ' '
}

if [ ! -f "$dsc" ]; then
    if ! available_versions | tr ' ' '\n' | grep -qxF "$VMSIX_BASE"; then
        vmsix_die "qemu $VMSIX_BASE is not on the mirror; available: $(available_versions)- pick one with VMSIX_BASE=<version> (docs/devel/vmsix-workflow.rst)"
    fi
    mkdir -p "$dl"
    vmsix_info "downloading Debian source qemu $VMSIX_BASE"
    # apt checks the files against the signed Sources index.
    vmsix_apt_get_in "$dl" source -qq --download-only "qemu=$VMSIX_BASE" ||
        vmsix_die "apt-get source qemu=$VMSIX_BASE failed"
fi

# Check the version and every checksum the .dsc lists.
got=$(awk '/^Version:/ { print $2; exit }' "$dsc")
[ "$got" = "$VMSIX_BASE" ] || vmsix_die "$dsc is version $got, not $VMSIX_BASE"
if [ "$VMSIX_BASE" = "$VMSIX_PINNED_VERSION" ]; then
    echo "$VMSIX_PINNED_DSC_SHA256  $dsc" | sha256sum -c --quiet - >/dev/null ||
        vmsix_die "$dsc does not match the pinned sha256; remove $dl and retry"
fi
awk '/^Checksums-Sha256:/ { on = 1; next } /^[^ ]/ { on = 0 } on && NF == 3 { print $1 "  " $3 }' \
    "$dsc" | (cd "$dl" && sha256sum -c --quiet -) ||
    vmsix_die "checksum mismatch in the files of $dsc; remove $dl and retry"

vmsix_info "unpacking qemu $VMSIX_BASE with Debian's patches"
tmp="$base.tmp"
rm -rf "$tmp"
mkdir -p "$(dirname "$base")"
# The signature needs Debian's developer keyring; the pinned sha256 and
# apt's signed index already vouch for the .dsc, so gpgv's warning is noise.
if ! dpkg-source -q -x "$dsc" "$tmp" >"$dl/unpack.log" 2>&1; then
    cat "$dl/unpack.log" >&2
    vmsix_die "dpkg-source -x $dsc failed"
fi
grep -qx 'skip-unpack-edk2-blobs.patch' "$tmp/debian/patches/series" ||
    vmsix_die "qemu $VMSIX_BASE lacks Debian's skip-unpack-edk2-blobs.patch, which the build needs"

(
    cd "$tmp"
    rm -rf .pc
    vmsix_git init -q
    # QEMU's .gitignore hides bundled subprojects; the base needs all of it.
    vmsix_git add -A --force .
    vmsix_git commit -q -m "qemu $VMSIX_BASE (Debian source, debian/patches applied)"
    vmsix_git tag base
    vmsix_git gc -q --auto
) || vmsix_die "could not record $tmp in git"
touch "$tmp/.vmsix-ready"
rm -rf "$base"
mv "$tmp" "$base"
echo "$base"
