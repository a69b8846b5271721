#!/usr/bin/env bash
# Turn the commits of the prepared fork tree back into this repository's
# overlay files and patch series.
#
# usage: vmsix/refresh.sh
#
# In $VMSIX_BUILD/src/fork, commit your edits first: a new file becomes an
# overlay file, every commit after the "vmsix-overlay" tag that touches an
# upstream file becomes one patch (rebase -i to reorder, squash or reword).
# The result is checked by preparing the tree again from the new patches
# and comparing it with your commits.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

src="$VMSIX_BUILD/src/fork"
[ -d "$src/.git" ] || vmsix_die "$src is not prepared: run vmsix/prepare-tree.sh fork"
cd "$src"
if [ -n "$(git status --porcelain)" ]; then
    git status --short | head -n 10 >&2
    vmsix_die "$src has uncommitted edits: commit them there first (one commit per patch)"
fi
git rev-parse -q --verify vmsix-overlay >/dev/null ||
    vmsix_die "$src has no vmsix-overlay tag: prepare it again with vmsix/prepare-tree.sh fork --discard"
want=$(git rev-parse HEAD)

in_overlay_dirs() {
    local d
    for d in $VMSIX_OVERLAY_DIRS; do
        case "$1" in "$d"/*) return 0 ;; esac
    done
    return 1
}

# Overlay: every file of HEAD that the base does not have.
mapfile -t new_files < <(git diff --name-only --diff-filter=A base HEAD)
exclude=()
for f in "${new_files[@]}"; do
    in_overlay_dirs "$f" ||
        vmsix_die "new file $f is outside the overlay directories ($VMSIX_OVERLAY_DIRS)"
    exclude+=(":(exclude)$f")
done
(cd "$VMSIX_TOP" && git ls-files -co --exclude-standard -- $VMSIX_OVERLAY_DIRS) |
while read -r f; do
    git cat-file -e "HEAD:$f" 2>/dev/null || rm -f "$VMSIX_TOP/$f"
done
for f in "${new_files[@]}"; do
    mkdir -p "$VMSIX_TOP/$(dirname "$f")"
    git show "HEAD:$f" > "$VMSIX_TOP/$f"
done

# Patches: the commits after the overlay, without the overlay files.
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
git format-patch -q -N --zero-commit --no-signature -o "$out" \
    vmsix-overlay..HEAD -- . "${exclude[@]}" >/dev/null
rm -f "$VMSIX_TOP"/patches/*.patch
: > "$VMSIX_TOP/patches/series"
for p in "$out"/*.patch; do
    [ -e "$p" ] || continue
    cp "$p" "$VMSIX_TOP/patches/"
    basename "$p" >> "$VMSIX_TOP/patches/series"
done

vmsix_info "wrote ${#new_files[@]} overlay files and $(grep -c . "$VMSIX_TOP/patches/series" || true) patches"
"$VMSIX_TOP/vmsix/prepare-tree.sh" fork --discard
git diff --quiet "$want" HEAD ||
    vmsix_die "the refreshed series does not reproduce your commits (git diff $want HEAD in $src)"
vmsix_info "the refreshed series reproduces $src"
