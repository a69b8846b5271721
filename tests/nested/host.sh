# What the host drivers of the nested harness share (tests/nested/nested.sh,
# tests/nested/payload/nested.sh): the guests' kernel and where each
# kernel's runs are kept, and what a run's log says of vfio-pci's MSI-X
# set-up in L1.  Sourced, not run.
# shellcheck shell=bash

# The guests' kernel: linux-image-arm64 of VMSIX_GUEST_SUITE
# (vmsix/guest-assets.sh): bookworm-backports (6.12, the default),
# trixie (6.12) or trixie-backports (7.x); set and empty: bookworm (6.1).
export VMSIX_GUEST_SUITE=${VMSIX_GUEST_SUITE-bookworm-backports}
NESTED_DEFAULT_SUITE=bookworm-backports

# nested_suite_dir BASE: where the runs on this kernel are kept: BASE for
# the default suite, BASE/SUITE for the others.
nested_suite_dir() {
    if [ "$VMSIX_GUEST_SUITE" = "$NESTED_DEFAULT_SUITE" ]; then
        echo "$1"
    else
        echo "$1/${VMSIX_GUEST_SUITE:-bookworm}"
    fi
}

# nested_log_kernel LOG: the L1 kernel's release, as L1's /init printed it
nested_log_kernel() {
    sed -nE 's/^(NESTED|PAYLOAD)-L1 start .*kernel=([^ ]+).*/\2/p' "$1" | head -n1
}

# nested_log_noresize LOG: 1 if L1's vfio-pci reported
# VFIO_IRQ_INFO_NORESIZE for the device's MSI-X, 0 if not, nothing
# without an MSI-X device (vfio_msix_early_setup, NESTED_L1_TRACE)
nested_log_noresize() {
    sed -nE 's/^L2\| vfio_msix_early_setup .* noresize ([01])$/\1/p' "$1" | head -n1
}

# nested_log_alloc LOG: the fork's MSI-X allocation policy, "table",
# "vector" or "none" (no MSI-X); nothing on other flavours
nested_log_alloc() {
    sed -nE 's/^L2\| vfio_pci_msi_engine_init .* host allocation per ([a-z]+)$/\1/p' "$1" | head -n1
}

# nested_dynamic_kernel RELEASE: the ITS of Linux 7.3 and later allocates
# MSI-X vectors while MSI-X is on (commit 0d6a7c417983, "irqchip/gic-v3-its:
# Enable dynamic MSI-X allocation"), so vfio-pci no longer says NORESIZE
nested_dynamic_kernel() {
    local maj min
    IFS=. read -r maj min _ <<<"$1"
    [ -n "$maj" ] && [ -n "$min" ] || return 1
    [ "$maj" -gt 7 ] || { [ "$maj" = 7 ] && [ "${min%%[!0-9]*}" -ge 3 ]; }
}

# nested_msix_summary LOG: one line for the log and the report
# nested_write_meta LOG: what a run's .meta keeps of LOG (L1's kernel,
# vfio's NORESIZE, the fork's policy); nested_meta_cell META: the
# table's "NORESIZE/policy" cell of a .meta, or nothing
nested_write_meta() {
    printf 'kernel %s\nnoresize %s\nalloc %s\n' "$(nested_log_kernel "$1")" \
        "$(nested_log_noresize "$1")" "$(nested_log_alloc "$1")"
}
nested_meta_cell() {
    awk '$1 == "noresize" { n = $2 } $1 == "alloc" { a = $2 }
        END { if (n != "") printf "%s/%s", n, (a == "" ? "-" : a) }' "$1" 2>/dev/null || true
}

nested_msix_summary() {
    local n a
    n=$(nested_log_noresize "$1")
    a=$(nested_log_alloc "$1")
    printf 'L1 kernel %s: vfio MSI-X NORESIZE %s; fork allocation policy %s\n' \
        "$(nested_log_kernel "$1")" "${n:--}" "${a:--}"
}

# nested_msix_expected LOG FLAVOR [ALLOC]: the NORESIZE flag is what L1's
# kernel must report, and the fork's policy follows it (or is ALLOC, which
# a property chose); prints what is wrong
nested_msix_expected() {
    local log=$1 flavor=$2 kver n a want_n want_a
    kver=$(nested_log_kernel "$log")
    n=$(nested_log_noresize "$log")
    a=$(nested_log_alloc "$log")
    [ -n "$kver" ] || { echo "no L1 kernel release in the log"; return 1; }
    if nested_dynamic_kernel "$kver"; then want_n=0 want_a=vector; else want_n=1 want_a=table; fi
    want_a=${3:-$want_a}
    [ "$n" = "$want_n" ] || { echo "NORESIZE ${n:-not traced}, wanted $want_n on $kver"; return 1; }
    if [ "$flavor" = fork ] && [ "$a" != "$want_a" ]; then
        echo "the fork's allocation is per ${a:-(not traced)}, wanted per $want_a"
        return 1
    fi
}

# The QEMUs under test in L1: fork and stock (fork-cross, stock-cross:
# static, the same configuration), and Debian's own arm64
# qemu-system-arm as users get it, dynamically linked, with its
# libraries (vmsix/guest-assets.sh debian-qemu): trixie's and
# trixie-backports'.  The peers are run as stock is, with what each
# check says of stock; where stock fails for what the fork fixes, a
# peer's outcome is recorded, not checked.
NESTED_FLAVORS="fork stock debian-10.0 debian-11.1"
nested_peer_version() {
    case "$1" in
    debian-10.0) echo 1:10.0.13+ds-0+deb13u1 ;;
    debian-11.1) echo 1:11.1.3+ds-2~bpo13+1 ;;
    *) return 1 ;;
    esac
}

# nested_flavor_ok FLAVOR: one of NESTED_FLAVORS
nested_flavor_ok() {
    case " $NESTED_FLAVORS " in *" $1 "*) return 0 ;; esac
    return 1
}

# nested_qemu_files FLAVOR: the SRC=DEST lines of L1's QEMU for
# vmsix/initramfs.sh: a static cross build, or a peer with its libraries
nested_qemu_files() {
    local q ver
    if ver=$(nested_peer_version "$1"); then
        "$VMSIX_TOP/vmsix/guest-assets.sh" debian-qemu "$ver"
        return
    fi
    q="$VMSIX_BUILD/qemu/$1-cross/qemu-system-aarch64"
    [ -x "$q" ] || vmsix_die "$q is not built: run ./qemu-vmsix build $1-cross"
    echo "$q=/bin/qemu-system-aarch64"
}

# nested_suite_dirs BASE: the directories of the kernels that were run,
# the default's (BASE) first, each as "DIR SUITE"
nested_suite_dirs() {
    local d
    echo "$1 $NESTED_DEFAULT_SUITE"
    for d in "$1"/*/; do
        [ -d "$d" ] || continue
        d=${d%/}
        echo "$d ${d##*/}"
    done
}
