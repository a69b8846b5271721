#!/usr/bin/env bash
# Prepare a build-owned QEMU source tree from the pristine base.
#
# usage: vmsix/prepare-tree.sh fork|stock [--discard]
#
#   fork:  base + overlay files of this repository + patches/ in series order
#   stock: base + the device list only, for like-for-like comparisons
#
# The tree is a git clone of the cached base: one commit for the overlay,
# then one commit per patch (git am).  It is left alone when nothing it was
# made from changed, and only files that differ are rewritten, so
# incremental builds stay incremental.  Local edits stop the script unless
# --discard is given; "vmsix/refresh.sh" turns them back into patches.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

flavor=${1:-}
discard=0
[ "${2:-}" = --discard ] && discard=1
case "$flavor" in
fork|stock) ;;
*) vmsix_die "usage: vmsix/prepare-tree.sh fork|stock [--discard]" ;;
esac

pristine=$("$VMSIX_TOP/vmsix/fetch-base.sh")
src="$VMSIX_BUILD/src/$flavor"
stamp="$src.stamp"
series="$VMSIX_TOP/patches/series"

# New files of the QEMU tree that this repository carries.
overlay_files() {
    (cd "$VMSIX_TOP" && git ls-files -co --exclude-standard -- $VMSIX_OVERLAY_DIRS)
}

series_patches() {
    [ -f "$series" ] || return 0
    sed -e 's/#.*//' -e 's/[[:space:]]*$//' "$series" | grep -v '^$' || true
}

stock_device_list() {
    grep -v 'fork-only' "$VMSIX_TOP/configs/devices/aarch64-softmmu/vmsix.mak"
}

inputs_digest() {
    {
        echo "base $VMSIX_BASE $flavor"
        if [ "$flavor" = fork ]; then
            overlay_files | while read -r f; do
                echo "overlay $f $(sha256sum < "$VMSIX_TOP/$f")"
            done
            series_patches | while read -r p; do
                echo "patch $p $(sha256sum < "$VMSIX_TOP/patches/$p")"
            done
        else
            stock_device_list
        fi
    } | sha256sum | cut -d' ' -f1
}

digest=$(inputs_digest)

if [ -d "$src/.git" ]; then
    want_head=$(sed -n 's/^head //p' "$stamp" 2>/dev/null || true)
    if [ $discard = 0 ]; then
        if [ -n "$(git -C "$src" status --porcelain)" ]; then
            git -C "$src" status --short | head -n 10 >&2
            vmsix_die "$src has local edits that would be overwritten: keep them with vmsix/refresh.sh, or drop them with --discard"
        fi
        if [ "$(git -C "$src" rev-parse HEAD)" != "$want_head" ]; then
            vmsix_die "$src has commits that are not in patches/: keep them with vmsix/refresh.sh, or drop them with --discard"
        fi
    fi
    if [ "$(sed -n 's/^inputs //p' "$stamp" 2>/dev/null)" = "$digest" ] &&
       [ $discard = 0 ]; then
        exit 0
    fi
else
    mkdir -p "$(dirname "$src")"
    vmsix_git clone -q --shared --no-checkout "$pristine" "$src"
    vmsix_git -C "$src" checkout -q --detach base
    printf 'inputs none\nhead %s\n' "$(git -C "$src" rev-parse HEAD)" > "$stamp"
fi

# Build the new history in a scratch worktree, then move the tree to it:
# git rewrites only the files that differ.
work="$VMSIX_BUILD/src/.$flavor-work"
rm -rf "$work"
vmsix_git -C "$src" worktree prune
vmsix_git -C "$src" fetch -q "$pristine" tag base --no-tags 2>/dev/null || true
vmsix_git -C "$src" worktree add -q --detach "$work" base
cleanup() { vmsix_git -C "$src" worktree remove --force "$work" 2>/dev/null || rm -rf "$work"; }
trap cleanup EXIT

if [ "$flavor" = fork ]; then
    n=0
    while read -r f; do
        [ -n "$f" ] || continue
        if vmsix_git -C "$work" cat-file -e "base:$f" 2>/dev/null; then
            vmsix_die "overlay file $f exists upstream: change upstream files with a patch in patches/"
        fi
        mkdir -p "$work/$(dirname "$f")"
        cp "$VMSIX_TOP/$f" "$work/$f"
        n=$((n + 1))
    done < <(overlay_files)
    if [ $n -gt 0 ]; then
        vmsix_git -C "$work" add -A
        vmsix_git -C "$work" commit -q -m "vmsix: overlay of $n new files"
    fi
    vmsix_git -C "$work" tag -f vmsix-overlay >/dev/null
    while read -r p; do
        if ! out=$(vmsix_git -C "$work" am -q --no-3way "$VMSIX_TOP/patches/$p" 2>&1); then
            echo "$out" | grep -E '^(error|Patch failed)' >&2 || echo "$out" >&2
            hunk=$(cd "$work" && git apply --check -v "$VMSIX_TOP/patches/$p" 2>&1 |
                   grep -m1 -B2 -A8 'while searching for' || true)
            [ -n "$hunk" ] && echo "$hunk" >&2
            vmsix_git -C "$work" am --abort 2>/dev/null || true
            vmsix_die "patch $p does not apply to qemu $VMSIX_BASE: rebase it (docs/devel/vmsix-workflow.rst)"
        fi
    done < <(series_patches)
else
    mkdir -p "$work/configs/devices/aarch64-softmmu"
    stock_device_list > "$work/configs/devices/aarch64-softmmu/vmsix.mak"
    vmsix_git -C "$work" add -A
    vmsix_git -C "$work" commit -q -m "vmsix: device list of the stock build"
fi

head=$(vmsix_git -C "$work" rev-parse HEAD)
overlay=$(vmsix_git -C "$work" rev-parse -q --verify vmsix-overlay || echo "$head")
vmsix_git -C "$src" tag -f vmsix-overlay "$overlay" >/dev/null
cleanup
trap - EXIT
vmsix_git -C "$src" checkout -q -f --detach "$head"
vmsix_git -C "$src" clean -q -fd
printf 'inputs %s\nhead %s\n' "$digest" "$head" > "$stamp"
vmsix_info "prepared $flavor tree $src ($(vmsix_git -C "$src" rev-list --count base..HEAD) commits on qemu $VMSIX_BASE)"
