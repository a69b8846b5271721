# The scenarios of the nested harness, in one place.  Sourced by the host
# driver (bash) and by the /init of L1 and L2 (busybox sh), so keep it
# POSIX.
# shellcheck shell=sh

# What L1's QEMU may print in some scenarios (see SCN_L1_ERRORS): L0's
# device has no reset that vfio-pci can use (edu, msix-testdev,
# virtio-net); a route refused for a doorbell the vIOMMU cannot
# translate, reported by the fork, and stock's assertion on it, with the
# warnings of stock, which has not the fork's trace events.
NESTED_NO_RESET='vfio: Cannot reset device [0-9a-f:.]+, no available reset mechanism\.$'
NESTED_ROUTE_REFUSED='virtio_iommu_translate no mapping for 0x1000 for sid=[0-9]+$|(vblk0|vnet0): MSI-X vector 1: cannot update KVM MSI route [0-9]+: Invalid argument; its interrupts go through QEMU$|-trace virtio_pci_vector_to_(kvm|qemu): warning: trace event .* does not exist$|(.*/)?hw/pci/msix.c:[0-9]+: msix_fire_vector_notifier: Assertion .ret >= 0. failed\.$'
# QEMU 11.1 (the debian-11.1 peer) deprecates -mon, which 10.0 needs:
# lifecycle's and storm's monitor say so
NESTED_MON_DEPRECATED="-mon chardev=hmp: warning: '-mon' is deprecated, use '-object' with 'monitor-hmp' or 'monitor-qmp' types instead$"
# vfio-route: the fork's report of the receive vector's refused route
# (engine: MSIXEventfds; x-msix-poller=off: vfio-pci's own)
NESTED_VFIO_ROUTE_REFUSED='(vfio )?0000:00:01\.0: vector 0: cannot update (KVM|its KVM) MSI route( [0-9]+)?: Invalid argument; its interrupts(, and those of any vector (KVM refuses|refused) later,)? go through QEMU$'

# What QEMU 11.1 (the peer debian-11.1) says of every vfio-pci device on a
# kernel without vfio's dma-buf export (6.12): information, in every
# scenario
NESTED_DMABUF='-device vfio-pci,host=[0-9a-f:.]+[^:]*: warning: VFIO dma-buf not supported in kernel, using mmap fallback, P2P DMA will not work$'

# All scenarios; meson.build puts the fast ones in the "nested" suite and
# the others in "nested-full".
NESTED_SCENARIOS="e1000e edu-msi msi-mask nvme virtio-net msix-testdev gicv4 viommu link-flap link-flap-gicv4 lifecycle storm int-modes virtio-route vhost-route vfio-route knobs"

# Kernel modules that L1 and L2 need, whatever the scenario.
NESTED_L1_MODULES="vfio vfio_iommu_type1 vfio-pci-core vfio-pci tun vhost_net"
NESTED_L2_MODULES="e1000e nvme virtio_net virtio_iommu virtio_blk"

# nested_guest_init PREFIX: what the /init of every guest starts with.
# It also defines the guests' helpers: say (a line starting with PREFIX),
# finish STATUS (say done, power off), fail MESSAGE, and arg NAME (the
# value of vmsix.NAME= on the kernel command line).
nested_guest_init() {
    NESTED_PREFIX=$1
    /bin/busybox --install -s /bin
    mount -t proc proc /proc
    mount -t sysfs sysfs /sys
    mount -t devtmpfs devtmpfs /dev
    say() { echo "$NESTED_PREFIX $*"; }
    finish() {
        say "done $1"
        sync
        poweroff -f
    }
    fail() {
        say "FAIL $*"
        finish 1
    }
    arg() { tr ' ' '\n' < /proc/cmdline | sed -n "s/^vmsix\.$1=//p"; }
}

# nested_bind_vfio BDF: in L1, bind the device to vfio-pci, or fail; sets
# dev (its sysfs directory), drv and group.
nested_bind_vfio() {
    dev=/sys/bus/pci/devices/$1
    echo vfio-pci > "$dev/driver_override"
    # A built-in driver (virtio-pci) may have taken the device at boot.
    [ -e "$dev/driver" ] && echo "$1" > "$dev/driver/unbind"
    echo "$1" > /sys/bus/pci/drivers_probe
    drv=$(basename "$(readlink "$dev/driver")")
    [ "$drv" = vfio-pci ] || fail "$1 did not bind to vfio-pci (driver: ${drv:-none})"
    # The group is only meaningful once the device is bound.
    group=$(basename "$(readlink "$dev/iommu_group")")
    [ -c "/dev/vfio/$group" ] || fail "no /dev/vfio/$group"
}

# nested_find_device VENDOR:DEVICE: print the address of the first PCI
# device with those IDs.
nested_find_device() {
    for d in /sys/bus/pci/devices/*; do
        if [ "$(cat "$d/vendor"):$(cat "$d/device")" = "0x${1%:*}:0x${1#*:}" ]; then
            echo "${d##*/}"
            return 0
        fi
    done
    return 1
}

# What L1's QEMU traces of vfio-pci's MSI-X set-up, on every flavour:
# vfio_msix_early_setup says whether the host's vfio-pci reports
# VFIO_IRQ_INFO_NORESIZE for the device's MSI-X ("noresize 1": MSI-X
# cannot grow while enabled).  The fork adds vfio_pci_msi_engine_init,
# with the allocation policy that x-msix-alloc=auto chose ("per table":
# every vector at enable; "per vector": each at its first unmask).
NESTED_L1_TRACE="-trace vfio_msix_early_setup"
NESTED_L1_TRACE_FORK="$NESTED_L1_TRACE -trace vfio_pci_msi_engine_init"

# nested_strace_events STRACE-LOG: L1's QEMU's strace log as one stream,
# in order: "LINE TEXT" for each line that QEMU wrote to L2's console
# (one writev per byte, so each line sits at its exact place among the
# ioctls), "IOCTL NAME" for each ioctl of NESTED_IOCTLS.
NESTED_IOCTLS="VFIO_DEVICE_SET_IRQS KVM_IRQFD KVM_SET_GSI_ROUTING KVM_SIGNAL_MSI"
nested_strace_events() {
    awk -v list="$NESTED_IOCTLS" '
    function feed(s,   parts, n, i) {
        gsub(/\\r/, "", s)
        n = split(s, parts, /\\n/)
        for (i = 1; i <= n; i++) {
            line = line parts[i]
            if (i < n) {
                print "LINE " line
                line = ""
            }
        }
    }
    BEGIN { nn = split(list, names, " ") }
    / writev\(/ {
        rest = $0
        while (match(rest, /iov_base="[^"]*"/)) {
            feed(substr(rest, RSTART + 10, RLENGTH - 11))
            rest = substr(rest, RSTART + RLENGTH)
        }
        next
    }
    /ioctl\([0-9]+, / {
        for (i = 1; i <= nn; i++) {
            if (index($0, ", " names[i] ",") || index($0, ", " names[i] ")") ||
                index($0, ", " names[i] " <")) {
                print "IOCTL " names[i]
            }
        }
    }' "$1"
}

# nested_scenario NAME: set the SCN_* variables of scenario NAME, or fail.
#   SCN_ID          vendor:device of the device that L0 gives L1 and L1
#                   passes through to L2 with vfio-pci (or, without
#                   SCN_L0_DEV, that L1's QEMU emulates for L2)
#   SCN_L0_DEV      L0's QEMU options that create it
#   SCN_GIC         L0's GIC version (3, or 4 for direct vLPI injection)
#   SCN_L1_APPEND   more of L1's kernel command line
#   SCN_L1_QEMU     more of L1's QEMU command line (the QEMU that runs L2)
#   SCN_L1_VFIO     more options of its vfio-pci device
#   SCN_L2_APPEND   more of L2's kernel command line
#   SCN_L2_MODULES  modules L2 loads, in order
#   SCN_TRAFFIC     what L2 does to make the device interrupt: dhcp, disk,
#                   raise, raise_msi, msi_mask, flap, lifecycle, storm,
#                   int_modes or virtio_route
#   SCN_STOCK_ABORT set when the stock QEMU in L1 is expected to abort
#   SCN_L1_ERRORS   the lines L1's QEMU may print to stderr in this
#                   scenario (an ERE, after "qemu-system-aarch64: "); any
#                   other line fails the scenario
#   SCN_L1_TAP      set when L1's QEMU has a tap0, which L1 gives the
#                   address NESTED_TAP_L1
#   SCN_L1_COUNTS_FORK, SCN_L1_COUNTS_STOCK
#                   the ioctls L1's QEMU must make in the whole run
#                   ("NAME N NAME N ..."), where they are the same in
#                   every run, on the default kernel (6.12)
#   SCN_L1_COUNTS_FORK_DYNAMIC
#                   the same, of the fork on a kernel whose ITS grows
#                   MSI-X while it is on (7.3): per vector allocation
#   SCN_VARIANTS    the fork's variants (see nested_variant): L1 runs its
#                   QEMU, and L2, once per variant, each time with the
#                   variant's options; the other flavours run once, as
#                   variant "stock", without them.  Empty: one run, no
#                   variant.
#   SCN_NO_MSIX     set when L0's device has no MSI-X capability
#   SCN_L0_TIMEOUT  seconds L0 may run (300)
nested_scenario() {
    SCN_ID='' SCN_L0_DEV='' SCN_GIC=3 SCN_L1_APPEND='' SCN_L1_QEMU=''
    SCN_L1_VFIO='' SCN_STOCK_ABORT='' SCN_L1_TAP='' SCN_VARIANTS=''
    SCN_L1_COUNTS_FORK='' SCN_L1_COUNTS_STOCK='' SCN_L2_APPEND=''
    SCN_L1_COUNTS_FORK_DYNAMIC='' SCN_L0_TIMEOUT=300 SCN_QMP='' SCN_QMP_ARGS=''
    SCN_L2_MODULES='' SCN_TRAFFIC='' SCN_L1_ERRORS='' SCN_NO_MSIX=''
    case "$1" in
    e1000e|gicv4|viommu|link-flap|link-flap-gicv4|lifecycle|storm|int-modes|vfio-route)
        SCN_ID=8086:10d3
        SCN_L0_DEV="-netdev user,id=net0 -device e1000e,netdev=net0,romfile="
        SCN_L2_MODULES=e1000e
        SCN_TRAFFIC=dhcp
        ;;
    nvme)
        SCN_ID=1b36:0010
        SCN_L0_DEV="-drive file=null-co://,if=none,id=disk0,format=raw,file.read-zeroes=on -device nvme,drive=disk0,serial=nested0"
        SCN_L2_MODULES=nvme
        SCN_TRAFFIC=disk
        ;;
    virtio-net)
        # Without iommu_platform the device would bypass L0's SMMU and
        # its DMA would go nowhere once L1 assigns it.
        SCN_ID=1af4:1041
        SCN_L0_DEV="-netdev user,id=net0 -device virtio-net-pci,netdev=net0,iommu_platform=on,disable-legacy=on,romfile="
        SCN_L2_MODULES=virtio_net
        SCN_TRAFFIC=dhcp
        SCN_L1_ERRORS=$NESTED_NO_RESET
        ;;
    msix-testdev)
        SCN_ID=1b36:00f0
        SCN_L0_DEV="-device msix-testdev,vectors=4"
        SCN_TRAFFIC=raise
        SCN_L1_ERRORS=$NESTED_NO_RESET
        ;;
    msi-mask)
        # Plain MSI with per-vector masking: msix-testdev's MSI capability
        SCN_ID=1b36:00f0
        SCN_L0_DEV="-device msix-testdev,vectors=4,msi=on"
        SCN_TRAFFIC=msi_mask
        SCN_L1_ERRORS=$NESTED_NO_RESET
        ;;
    edu-msi)
        # Plain MSI: edu has one vector and no MSI-X
        SCN_ID=1234:11e8
        SCN_L0_DEV="-device edu"
        SCN_NO_MSIX=1
        SCN_TRAFFIC=raise_msi
        SCN_L1_ERRORS=$NESTED_NO_RESET
        ;;
    virtio-route)
        # No passthrough: L1's QEMU gives L2 a virtio-blk whose iothread
        # signals its queue through KVM irqfds, behind a virtio-iommu.  L2
        # aims MSI-X vectors at doorbells the vIOMMU cannot translate, so
        # KVM refuses their routes; stock QEMU asserts on that.
        SCN_ID=1af4:1042
        SCN_L1_QEMU="-device virtio-iommu-pci -object iothread,id=io0 -drive file=null-co://,if=none,id=disk0,format=raw,file.read-zeroes=on -device virtio-blk-pci,drive=disk0,iothread=io0,id=vblk0,disable-legacy=on -trace virtio_pci_vector_to_qemu -trace virtio_pci_vector_to_kvm"
        SCN_L2_MODULES="virtio_iommu virtio_blk"
        SCN_TRAFFIC=virtio_route
        SCN_STOCK_ABORT=1
        SCN_L1_ERRORS=$NESTED_ROUTE_REFUSED
        # The fork's monitor: vector 1's state and events (l1-init.sh)
        SCN_QMP=1
        SCN_QMP_ARGS=', "arguments": {"device": "vblk0", "first": 1, "count": 1}'
        ;;
    knobs)
        # The fork's vfio-pci properties, one L1 QEMU run per value, with
        # msix-testdev's four vectors unmasked, raised and masked in turn
        SCN_ID=1b36:00f0
        SCN_L0_DEV="-device msix-testdev,vectors=4"
        SCN_TRAFFIC=knobs
        SCN_VARIANTS="auto table vector poller-off virt-9.2"
        SCN_L1_ERRORS=$NESTED_NO_RESET
        ;;
    vhost-route)
        # virtio-route with a virtio-net served by L1's vhost-net, which
        # keeps its irqfds attached while a vector is masked.  L2 talks
        # to L1 over tap0; QEMU runs /tmp/tap-up when it has created it.
        SCN_ID=1af4:1041
        SCN_L1_QEMU="-device virtio-iommu-pci -netdev tap,id=net0,ifname=tap0,script=/tmp/tap-up,downscript=no,vhost=on -device virtio-net-pci,netdev=net0,id=vnet0,disable-legacy=on,romfile= -trace virtio_pci_vector_to_qemu -trace virtio_pci_vector_to_kvm"
        SCN_L2_MODULES="virtio_iommu virtio_net"
        SCN_TRAFFIC=virtio_route
        SCN_STOCK_ABORT=1
        SCN_L1_TAP=1
        SCN_L1_ERRORS=$NESTED_ROUTE_REFUSED
        SCN_QMP=1
        SCN_QMP_ARGS=', "arguments": {"device": "vnet0", "first": 1, "count": 1}'
        ;;
    *)
        return 1
        ;;
    esac
    case "$1" in
    e1000e)
        # Boot and DHCP (README.md's table)
        SCN_L1_COUNTS_FORK="VFIO_DEVICE_SET_IRQS 29 KVM_IRQFD 13 KVM_SET_GSI_ROUTING 4"
        SCN_L1_COUNTS_STOCK="VFIO_DEVICE_SET_IRQS 41 KVM_IRQFD 13 KVM_SET_GSI_ROUTING 4"
        ;;
    gicv4)
        SCN_GIC=4
        SCN_L1_APPEND=kvm-arm.vgic_v4_enable=1
        ;;
    viommu)
        SCN_L1_QEMU="-device virtio-iommu-pci"
        SCN_L2_MODULES="virtio_iommu e1000e"
        ;;
    vfio-route)
        # viommu, and L2 aims the receive vector at an IOVA the vIOMMU
        # does not map, so that KVM refuses its route at unmask; on the
        # fork with the MSI-X engine, and with its historical path
        # (x-msix-poller=off).
        SCN_L1_QEMU="-device virtio-iommu-pci -trace vfio_msi_vector_to_qemu"
        SCN_VARIANTS="auto poller-off"
        SCN_L2_MODULES="virtio_iommu e1000e"
        SCN_TRAFFIC=vfio_route
        SCN_L1_ERRORS="$NESTED_ROUTE_REFUSED|$NESTED_VFIO_ROUTE_REFUSED|-trace vfio_msi_vector_to_qemu: warning: trace event .* does not exist$"
        # e1000e holds its BARs: L2 writes the MSI-X table through /dev/mem
        SCN_L2_APPEND=iomem=relaxed
        ;;
    link-flap|link-flap-gicv4)
        SCN_TRAFFIC=flap
        # The fork's monitor: its counters against strace's (every
        # device: the one passed through)
        SCN_QMP=1
        # link-flap-gicv4: with vLPIs, each link down masks the vectors,
        # and the host drops an interrupt still pending in the GIC
        # (docs/devel/vmsix-gicv4.rst); e1000e must never stall
        if [ "$1" = link-flap-gicv4 ]; then
            SCN_GIC=4
            SCN_L1_APPEND=kvm-arm.vgic_v4_enable=1
        fi
        # Boot, DHCP and the 20 rounds (README.md's table)
        SCN_L1_COUNTS_FORK="VFIO_DEVICE_SET_IRQS 29 KVM_IRQFD 133 KVM_SET_GSI_ROUTING 4"
        SCN_L1_COUNTS_STOCK="VFIO_DEVICE_SET_IRQS 161 KVM_IRQFD 13 KVM_SET_GSI_ROUTING 64"
        # On 7.3 MSI-X goes on in the host with no vector, and each of
        # e1000e's three vectors takes one call at its first unmask:
        # 29 + 3, and none in the rounds (the same in six runs)
        SCN_L1_COUNTS_FORK_DYNAMIC="VFIO_DEVICE_SET_IRQS 32 KVM_IRQFD 133 KVM_SET_GSI_ROUTING 4"
        ;;
    int-modes)
        # L2 reloads e1000e with each interrupt mode in turn: vfio-pci in
        # L1 switches the host between MSI-X, MSI and INTx
        SCN_TRAFFIC=int_modes
        SCN_L1_QEMU="-trace vfio_msi_enable"
        ;;
    lifecycle)
        # A hotpluggable slot, L1's monitor on /tmp/hmp.{in,out}, a
        # system_reset that resets (-no-reboot would make it a shutdown),
        # and a trace of vfio-pci's device reset, which shows it did
        SCN_TRAFFIC=lifecycle
        SCN_L1_QEMU="-action reboot=reset -device pcie-root-port,id=rp0,chassis=1 -chardev pipe,id=hmp,path=/tmp/hmp -mon chardev=hmp -trace vfio_pci_reset"
        SCN_L1_VFIO=",bus=rp0,id=hostdev0"
        SCN_L1_ERRORS=$NESTED_MON_DEPRECATED
        ;;
    storm)
        # lifecycle's reset, unplug and plug, NESTED_STORM_CYCLES times
        # under a ping flood, with L1's census of its QEMU's open files
        # and threads before each cycle and after the last (no strace:
        # it would slow the flood, and counts nothing here)
        SCN_TRAFFIC=storm SCN_L0_TIMEOUT=1500
        SCN_L1_QEMU="-action reboot=reset -device pcie-root-port,id=rp0,chassis=1 -chardev pipe,id=hmp,path=/tmp/hmp -mon chardev=hmp"
        SCN_L1_VFIO=",bus=rp0,id=hostdev0"
        SCN_L1_ERRORS=$NESTED_MON_DEPRECATED
        ;;
    esac
}

# nested_variant NAME: the options of variant NAME of a scenario with
# SCN_VARIANTS, or fail.
#   SCN_V_VFIO      more options of the vfio-pci device
#   SCN_V_QEMU      more of L1's QEMU command line
#   SCN_V_ERRORS    more lines L1's QEMU may print (see SCN_L1_ERRORS)
#   SCN_V_REFUSED   set when L1's QEMU must refuse to start (status 1)
#   SCN_V_ROUNDS    what each round of L2's traffic must cost, in L1's
#                   strace: "SET_IRQS IRQFD GSI_ROUTING" per round,
#                   rounds separated by ","
#   SCN_V_L1_IRQS   the interrupts L1's /proc/interrupts must show for
#                   the device's vfio-pci vectors after the rounds
#   SCN_V_ALLOC     the engine's allocation, "table" or "vector"; empty
#                   without the engine or where the device is refused
# The second argument, "dynamic", is for an L1 whose ITS grows MSI-X
# while it is on (Linux 7.3: vfio reports no VFIO_IRQ_INFO_NORESIZE).
# knobs: x-msix-alloc=auto and =table allocate the whole table at enable
# on a host whose vfio reports VFIO_IRQ_INFO_NORESIZE (6.12), so a round
# costs no VFIO_DEVICE_SET_IRQS, an irqfd attach and detach, and a route
# commit at a vector's first unmask; =vector cannot work there and the
# device is refused at realize; x-msix-poller=off is the historical code
# (stock's), which disables and enables the host's MSI-X at each first
# unmask and moves the host's trigger at every mask and unmask: stock's
# VFIO_DEVICE_SET_IRQS and KVM_IRQFD, but the fork's route commits, which
# skip a table that did not change (stock commits at every unmask).  L1 then
# shows only the raises since the last time its vectors were requested:
# vector 3's of round 4, vector 0's and 1's of rounds 5 and 6.
# On a dynamic host auto picks =vector, which allocates a vector at its
# first unmask with one VFIO_DEVICE_SET_IRQS and never calls the host
# again; the historical code and stock set the new vector's trigger at
# its first unmask and move it at every mask and unmask, two a round;
# no vector is ever freed, so L1 shows all six raises.
NESTED_KNOBS_TRACE="-trace vfio_pci_msi_engine_init -trace vfio_msix_engine_enable"
NESTED_KNOBS_ENGINE_ROUNDS="0 2 1,0 2 1,0 2 1,0 2 1,0 2 0,0 2 0"
NESTED_KNOBS_OFF_ROUNDS="3 1 1,3 1 1,3 1 1,3 1 1,2 0 0,2 0 0"
NESTED_KNOBS_STOCK_ROUNDS="3 1 1,3 1 1,3 1 1,3 1 1,2 0 1,2 0 1"
NESTED_KNOBS_VECTOR_ROUNDS="1 2 1,1 2 1,1 2 1,1 2 1,0 2 0,0 2 0"
NESTED_KNOBS_OFF_ROUNDS_DYNAMIC="2 1 1,2 1 1,2 1 1,2 1 1,2 0 0,2 0 0"
NESTED_KNOBS_STOCK_ROUNDS_DYNAMIC="2 1 1,2 1 1,2 1 1,2 1 1,2 0 1,2 0 1"
NESTED_KNOBS_VECTOR_REFUSED='-device vfio-pci,host=[0-9a-f:.]+,x-msix-alloc=vector: vfio [0-9a-f:.]+: x-msix-alloc=vector needs a host that adds MSI-X vectors while MSI-X is on; this one reports VFIO_IRQ_INFO_NORESIZE$'
nested_variant() {
    case "${2:-}" in ''|dynamic) ;; *) return 1 ;; esac
    SCN_V_VFIO='' SCN_V_QEMU='' SCN_V_ERRORS='' SCN_V_REFUSED='' SCN_V_ROUNDS=''
    SCN_V_L1_IRQS=3 SCN_V_ALLOC=''
    case "$1" in
    auto|table|vector)
        SCN_V_VFIO=",x-msix-alloc=$1"
        SCN_V_QEMU=$NESTED_KNOBS_TRACE
        SCN_V_L1_IRQS=6
        case "$1${2:+/$2}" in
        auto|table|table/dynamic)
            SCN_V_ALLOC=table SCN_V_ROUNDS=$NESTED_KNOBS_ENGINE_ROUNDS ;;
        auto/dynamic|vector/dynamic)
            SCN_V_ALLOC=vector SCN_V_ROUNDS=$NESTED_KNOBS_VECTOR_ROUNDS ;;
        vector)
            SCN_V_ERRORS=$NESTED_KNOBS_VECTOR_REFUSED SCN_V_REFUSED=1 ;;
        *)
            return 1 ;;
        esac
        ;;
    poller-off)
        SCN_V_VFIO=",x-msix-poller=off"
        SCN_V_QEMU=$NESTED_KNOBS_TRACE
        SCN_V_ROUNDS=$NESTED_KNOBS_OFF_ROUNDS
        [ -z "${2:-}" ] || SCN_V_ROUNDS=$NESTED_KNOBS_OFF_ROUNDS_DYNAMIC
        ;;
    virt-9.2)
        # A machine type from before the engine keeps the historical code
        SCN_V_QEMU="$NESTED_KNOBS_TRACE -M virt-9.2"
        SCN_V_ROUNDS=$NESTED_KNOBS_OFF_ROUNDS
        [ -z "${2:-}" ] || SCN_V_ROUNDS=$NESTED_KNOBS_OFF_ROUNDS_DYNAMIC
        ;;
    stock)
        SCN_V_ROUNDS=$NESTED_KNOBS_STOCK_ROUNDS
        [ -z "${2:-}" ] || SCN_V_ROUNDS=$NESTED_KNOBS_STOCK_ROUNDS_DYNAMIC
        ;;
    *)
        return 1
        ;;
    esac
    [ -z "${2:-}" ] || SCN_V_L1_IRQS=6
}
# knobs: L2's rounds, "vector, vector...": each unmasks the vector, raises
# it once through RAISE and masks it again.  Rounds 1 to 4 are each
# vector's first unmask, 5 and 6 unmask vectors the guest used before.
NESTED_KNOBS_VECTORS="0 1 2 3 0 1"

# The MSI-X table entry (MSI message) that L2 programs for msix-testdev
# (edu), which has no driver there: the doorbell of L2's ITS (virt's
# GITS_TRANSLATER), so that the message is a valid ITS write that L1's
# KVM drops for lack of a mapping.  The scenario counts arrivals in L1,
# at vfio-pci.
NESTED_L2_ITS_DOORBELL=0x08090040
NESTED_RAISES=5

# int-modes: the IntMode values e1000e is reloaded with in L2, each with
# the kind of interrupt it must then use (an extended regular
# expression).  With IntMode=1 e1000e turns MSI on and sends itself a
# test interrupt; if that does not arrive within its short wait it goes on
# with INTx.  In this stack it mostly does not (see edu-msi in
# docs/devel/vmsix-nested.rst), but on a busy host it sometimes does,
# fork and stock alike: either is right.  The host goes MSI-X -> INTx
# -> MSI (-> INTx) either way.
NESTED_INT_MODES="1:(msi|intx) 0:intx 2:msix"

# virtio-route: an IOVA that L2's virtio-iommu never maps
NESTED_UNMAPPED_IOVA=0x1000
# L0's user network: its gateway, and the address it leases to L2
NESTED_GATEWAY=10.0.2.2
NESTED_L2_ADDR=10.0.2.15/24
# virtio-route: the direct 4 KiB reads of each disk read, one interrupt
# each
NESTED_VIRTIO_READS=64
# vhost-route: the two ends of the link between L1 and L2
NESTED_TAP_L1=10.0.3.1/24
NESTED_TAP_L2=10.0.3.2/24

# storm: cycles of hot-unplug, hot-plug and system_reset under a flood
NESTED_STORM_CYCLES=10

# link-flap: rounds of "ip link set down; up" in L2.  e1000e frees and
# requests its three MSI-X vectors on each, which masks and unmasks them.
NESTED_FLAPS=20
# The fork's KVM_IRQFD calls per round: a detach and an attach for each
# of the three vectors.  It makes no VFIO_DEVICE_SET_IRQS and no
# KVM_SET_GSI_ROUTING.
NESTED_FLAP_IRQFD=6
# Stock's per round, "VFIO_DEVICE_SET_IRQS KVM_IRQFD KVM_SET_GSI_ROUTING":
# for each of the three vectors, the mask and the unmask move the host's
# trigger and the unmask commits the route table (as knobs' rounds 5 and
# 6 show for one vector)
NESTED_FLAP_STOCK="6 0 3"
