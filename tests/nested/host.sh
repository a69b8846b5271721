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
nested_msix_summary() {
    local n a
    n=$(nested_log_noresize "$1")
    a=$(nested_log_alloc "$1")
    printf 'L1 kernel %s: vfio MSI-X NORESIZE %s; fork allocation policy %s\n' \
        "$(nested_log_kernel "$1")" "${n:--}" "${a:--}"
}

# nested_msix_expected LOG FLAVOR: the NORESIZE flag is what L1's kernel
# must report, and the fork's policy follows it; prints what is wrong
nested_msix_expected() {
    local log=$1 flavor=$2 kver n a want_n want_a
    kver=$(nested_log_kernel "$log")
    n=$(nested_log_noresize "$log")
    a=$(nested_log_alloc "$log")
    [ -n "$kver" ] || { echo "no L1 kernel release in the log"; return 1; }
    if nested_dynamic_kernel "$kver"; then want_n=0 want_a=vector; else want_n=1 want_a=table; fi
    [ "$n" = "$want_n" ] || { echo "NORESIZE ${n:-not traced}, wanted $want_n on $kver"; return 1; }
    if [ "$flavor" = fork ] && [ "$a" != "$want_a" ]; then
        echo "the fork's allocation is per ${a:-(not traced)}, wanted per $want_a"
        return 1
    fi
}
