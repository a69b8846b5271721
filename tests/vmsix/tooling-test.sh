#!/usr/bin/env bash
# Bad input to the tree tooling stops with a one-line reason, and the
# refresh workflow round-trips.  Each case works on a scratch copy of the
# repository and its own build directory.
#
# usage: tests/vmsix/tooling-test.sh local-edit|bad-patch|missing-base|refresh|
#                                    download|missing-package
set -euo pipefail
. "$(dirname "$0")/../../vmsix/lib.sh"

case_name=$1
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
repo="$scratch/repo"
mkdir -p "$repo"
(cd "$VMSIX_TOP" && git ls-files -co --exclude-standard | grep -v '^_build/' |
    cpio -pdm --quiet "$repo")
(cd "$repo" && git init -q && git add -A &&
    vmsix_git commit -q -m scratch)
export VMSIX_BUILD="$scratch/build"

expect_fail() {     # expect_fail REGEX COMMAND...
    local re=$1 out
    shift
    if out=$("$@" 2>&1); then
        echo "FAIL: '$*' succeeded"
        exit 1
    fi
    if ! grep -qE -- "$re" <<<"$out"; then
        echo "FAIL: '$*' did not say /$re/; it said:"
        echo "$out"
        exit 1
    fi
    echo "ok: $(grep -E -- "$re" <<<"$out" | head -n1)"
}

src="$VMSIX_BUILD/src/fork"
case "$case_name" in
local-edit)
    "$repo/vmsix/prepare-tree.sh" fork 2>/dev/null
    echo "/* local */" >> "$src/hw/pci/msix.c"
    touch "$repo/docs/devel/vmsix-new-page.rst"     # changes the inputs
    expect_fail "has local edits that would be overwritten" "$repo/vmsix/prepare-tree.sh" fork
    "$repo/vmsix/prepare-tree.sh" fork --discard 2>/dev/null
    git -C "$src" diff --quiet || { echo "FAIL: --discard kept the edit"; exit 1; }
    echo "ok: --discard drops the edit"
    (cd "$src" && echo "/* committed */" >> hw/pci/msix.c && vmsix_git commit -qam edit)
    expect_fail "has commits that are not in patches/" "$repo/vmsix/prepare-tree.sh" fork
    ;;
bad-patch)
    cat > "$repo/patches/9999-broken.patch" <<'P'
From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001
From: Test <test@example.com>
Subject: [PATCH] hw/pci: a patch whose context is not upstream

---
 hw/pci/msix.c | 2 +-
 1 file changed, 1 insertion(+), 1 deletion(-)

diff --git a/hw/pci/msix.c b/hw/pci/msix.c
--- a/hw/pci/msix.c
+++ b/hw/pci/msix.c
@@ -20,3 +20,3 @@
 this line is not in msix.c
-nor this one
+so the hunk cannot apply
 and neither is this
P
    echo 9999-broken.patch >> "$repo/patches/series"
    expect_fail "patch 9999-broken.patch does not apply" "$repo/vmsix/prepare-tree.sh" fork
    # again, on the existing tree, for the failing hunk
    expect_fail "patch failed: hw/pci/msix.c:20" "$repo/vmsix/prepare-tree.sh" fork
    ;;
missing-base)
    # It must fail (vmsix_die's status 1), with one line naming the
    # versions the mirror has, and leave no tree behind.
    rc=0
    out=$(VMSIX_BASE='1:10.0.999+ds-0+deb13u1' "$repo/vmsix/prepare-tree.sh" fork 2>&1) || rc=$?
    if [ "$rc" != 1 ]; then
        echo "FAIL: prepare-tree.sh with an unknown base version exited with status $rc, not 1; it said:"
        echo "$out"
        exit 1
    fi
    if ! grep -qE '^vmsix: qemu 1:10.0.999\+ds-0\+deb13u1 is not on the mirror; available: .*1:10\.0\.[0-9]+' <<<"$out" ||
       [ "$(wc -l <<<"$out")" != 1 ]; then
        echo "FAIL: an unknown base version did not stop with one line naming the available ones:"
        echo "$out"
        exit 1
    fi
    # The list is the mirror's: it has the pinned version, which this
    # machine's base was fetched from.
    grep -qF " $VMSIX_PINNED_VERSION " <<<"${out#*available:} " ||
        { echo "FAIL: the versions listed do not include the pinned $VMSIX_PINNED_VERSION: $out"; exit 1; }
    [ ! -e "$src" ] || { echo "FAIL: an unknown base version left a tree in $src"; exit 1; }
    echo "ok (status $rc): $out"
    ;;
download)
    # What a machine without a cache does first: fetch the pinned source
    # package from the mirror, check it and unpack it.
    export VMSIX_CACHE="$scratch/cache"
    base=$("$repo/vmsix/fetch-base.sh")
    [ -f "$base/.vmsix-ready" ] && git -C "$base" rev-parse -q --verify base >/dev/null ||
        { echo "FAIL: fetch-base.sh did not leave a tagged base in $base"; exit 1; }
    [ -f "$base/hw/pci/msix.c" ] && [ -d "$base/debian/patches" ] ||
        { echo "FAIL: $base is not an unpacked qemu source package"; exit 1; }
    echo "ok: downloaded, checked and unpacked into $base"
    rm -rf "$base"
    printf x >> "$(ls "$VMSIX_CACHE"/dl/qemu_*.debian.tar.xz)"
    expect_fail "checksum mismatch in the files of" "$repo/vmsix/fetch-base.sh"
    [ ! -e "$base" ] || { echo "FAIL: a corrupt download left $base"; exit 1; }
    ;;
missing-package)
    export VMSIX_CACHE="$scratch/cache"
    expect_fail "vmsix-no-such-package:arm64 is not on the mirror" \
        "$repo/vmsix/guest-assets.sh" package vmsix-no-such-package
    ;;
refresh)
    "$repo/vmsix/prepare-tree.sh" fork 2>/dev/null
    (
        cd "$src"
        sed -i '1a /* refresh test */' hw/pci/msix.c
        mkdir -p hw/misc
        printf '/* new file */\n' > hw/misc/vmsix-refresh-test.c
        git add -A
        vmsix_git commit -q -s -m "hw/pci: a refresh test" -m "Because a test says so."
    )
    "$repo/vmsix/refresh.sh" 2>/dev/null
    n=$(grep -c . "$repo/patches/series")
    last=$(tail -n1 "$repo/patches/series")
    grep -q 'Subject: \[PATCH\] hw/pci: a refresh test' "$repo/patches/$last" ||
        { echo "FAIL: the new commit is not the last patch ($last)"; exit 1; }
    grep -q 'vmsix-refresh-test' "$repo/patches/$last" &&
        { echo "FAIL: the overlay file went into the patch"; exit 1; }
    cmp -s <(printf '/* new file */\n') "$repo/hw/misc/vmsix-refresh-test.c" ||
        { echo "FAIL: the new file did not become an overlay file"; exit 1; }
    echo "ok: refresh wrote $n patches and the overlay file"
    "$repo/vmsix/prepare-tree.sh" fork 2>/dev/null
    echo "ok: the refreshed tree prepares again without complaint"
    ;;
*)
    vmsix_die "unknown case $case_name"
    ;;
esac
