/*
 * vfio-pci MSI-X and MSI through the MSI-X engine
 *
 * Copyright (c) 2026 The qemu-vmsix authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The glue between a VFIOPCIDevice, the MSI-X core's vector notifiers,
 * the MSI capability and the engine (msix-engine.c).  A device has one
 * engine and one set of eventfds, used by MSI-X or MSI, whichever the
 * guest turned on.  "x-msix-poller=off" leaves the device on the
 * historical code in pci.c.
 */

#include "qemu/osdep.h"
#include <sys/ioctl.h>
#include <linux/vfio.h>
#include "qapi/error.h"
#include "qemu/error-report.h"
#include "qemu/log.h"
#include "qemu/range.h"
#include "qemu/timer.h"
#include "hw/qdev-properties.h"
#include "hw/core/qdev-prop-internal.h"
#include "hw/pci/msi.h"
#include "hw/pci/msix.h"
#include "hw/pci/msix-eventfd.h"
#include "hw/pci/msix-eventfd-qmp.h"
#include "system/kvm.h"
#include "system/runstate.h"
#include "pci.h"
#include "pci-msix.h"
#include "trace.h"

static int vfio_pci_msi_irq_index(VFIOMSIXMode mode)
{
    return mode == VFIO_MSIX_MODE_MSI ? VFIO_PCI_MSI_IRQ_INDEX
                                      : VFIO_PCI_MSIX_IRQ_INDEX;
}

/*
 * The kernel's MSI and MSI-X enable returns how many vectors it could
 * get when that is fewer than asked for, and then enables nothing.
 */
static int vfio_pci_msi_set_triggers(void *opaque, VFIOMSIXMode mode,
                                     unsigned start, unsigned count,
                                     const int32_t *fds, Error **errp)
{
    VFIOPCIDevice *vdev = opaque;
    int index = vfio_pci_msi_irq_index(mode);
    size_t argsz = sizeof(struct vfio_irq_set) + count * sizeof(int32_t);
    g_autofree struct vfio_irq_set *irq_set = g_malloc0(argsz);
    int ret;

    irq_set->argsz = argsz;
    irq_set->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
    irq_set->index = index;
    irq_set->start = start;
    irq_set->count = count;
    memcpy(&irq_set->data, fds, count * sizeof(int32_t));

    ret = ioctl(vdev->vbasedev.fd, VFIO_DEVICE_SET_IRQS, irq_set);
    if (ret < 0) {
        ret = -errno;
        error_setg_errno(errp, -ret, "VFIO_DEVICE_SET_IRQS of %s "
                         "vectors %u-%u",
                         index == VFIO_PCI_MSI_IRQ_INDEX ? "MSI" : "MSI-X",
                         start, start + count - 1);
    }
    return ret;
}

static void vfio_pci_msi_host_disable(void *opaque, VFIOMSIXMode mode)
{
    VFIOPCIDevice *vdev = opaque;

    vfio_disable_irqindex(&vdev->vbasedev, vfio_pci_msi_irq_index(mode));
}

static void vfio_pci_msi_host_refused(void *opaque, unsigned first,
                                      unsigned count, const char *reason)
{
    VFIOPCIDevice *vdev = opaque;

    msix_eventfds_host_refused(&vdev->pdev, first, count, reason);
}

static const VFIOMSIXHostOps vfio_pci_msix_host_ops = {
    .set_triggers = vfio_pci_msi_set_triggers,
    .disable = vfio_pci_msi_host_disable,
    .refused = vfio_pci_msi_host_refused,
};

static VFIOMSIXEngine *vfio_pci_msi_engine_of(PCIDevice *pdev)
{
    return VFIO_PCI(pdev)->msix_engine;
}

/*
 * How long every vector must stay unmasked before the PBA is left to the
 * device again, once the guest has masked a vector after it was.  A
 * guest that masks and unmasks around each interrupt, with every vector
 * in use, would otherwise change the memory map twice an interrupt.
 */
#define VFIO_MSIX_PBA_UNTRAP_HOLDOFF_MS 1000

static void vfio_pci_msix_set_pba_trap(VFIOPCIDevice *vdev, bool trap)
{
    memory_region_set_enabled(&vdev->pdev.msix_pba_mmio, trap);
    if (trap) {
        trace_vfio_msix_pba_enable(vdev->vbasedev.name);
    } else {
        trace_vfio_msix_pba_disable(vdev->vbasedev.name);
    }
}

/*
 * The guest reads the PBA from the BAR while the device's pending bits
 * are the truth (vfio_msix_engine_pba_quiet()): every vector the host
 * holds is unmasked, so nothing can latch in an eventfd, and a masked
 * vector the host never got pends in the device.  The registers some
 * devices keep on the PBA's page (see the MT27500 quirk in pci.c) then
 * stay off the slow path, as with upstream's lazy PBA.  A mask of a
 * vector the host holds traps it again at once, before it can latch.
 * Only the first untrap after MSI-X is enabled is immediate; the next
 * ones wait for the guest to leave the vectors alone for a while.
 */
static void vfio_pci_msix_update_pba_trap(VFIOPCIDevice *vdev)
{
    MemoryRegion *pba = &vdev->pdev.msix_pba_mmio;
    bool trap = vdev->interrupt != VFIO_INT_MSIX ||
                !vfio_msix_engine_pba_quiet(vdev->msix_engine);

    /* The timer exists when the engine drives an MSI-X table */
    if (!vdev->msix_pba_timer) {
        return;
    }
    if (trap) {
        /* A hold-off still running finds the PBA trapped when it ends */
        if (!pba->enabled) {
            vfio_pci_msix_set_pba_trap(vdev, true);
        }
        return;
    }
    if (!pba->enabled) {
        return;
    }
    if (vdev->msix_pba_holdoff) {
        /*
         * Only the deadline moves: the timer, armed once, looks at it
         * when it fires.  Moving the timer at every unmask would wake
         * the main loop each time, and it would then wait for the BQL
         * this vCPU holds.
         */
        vdev->msix_pba_untrap_at = qemu_clock_get_ms(QEMU_CLOCK_VIRTUAL) +
                                   VFIO_MSIX_PBA_UNTRAP_HOLDOFF_MS;
        if (!timer_pending(vdev->msix_pba_timer)) {
            timer_mod(vdev->msix_pba_timer, vdev->msix_pba_untrap_at);
        }
        trace_vfio_msix_pba_disable_deferred(vdev->vbasedev.name);
        return;
    }
    vfio_pci_msix_set_pba_trap(vdev, false);
    vdev->msix_pba_holdoff = true;
}

/* The hold-off ran out, unless the guest unmasked a vector since */
static void vfio_pci_msix_pba_holdoff_expired(void *opaque)
{
    VFIOPCIDevice *vdev = opaque;

    if (qemu_clock_get_ms(QEMU_CLOCK_VIRTUAL) < vdev->msix_pba_untrap_at) {
        timer_mod(vdev->msix_pba_timer, vdev->msix_pba_untrap_at);
        return;
    }
    if (vdev->interrupt == VFIO_INT_MSIX && vdev->pdev.msix_pba_mmio.enabled &&
        vfio_msix_engine_pba_quiet(vdev->msix_engine)) {
        vfio_pci_msix_set_pba_trap(vdev, false);
    }
}

static int vfio_pci_msix_vector_use(PCIDevice *pdev, unsigned int nr,
                                    MSIMessage msg)
{
    vfio_msix_engine_set_vector(vfio_pci_msi_engine_of(pdev), nr, true, msg);
    vfio_pci_msix_update_pba_trap(VFIO_PCI(pdev));
    return 0;
}

static void vfio_pci_msix_vector_release(PCIDevice *pdev, unsigned int nr)
{
    MSIMessage none = { 0 };

    vfio_msix_engine_set_vector(vfio_pci_msi_engine_of(pdev), nr, false, none);
    vfio_pci_msix_update_pba_trap(VFIO_PCI(pdev));
}

/* The guest reads the PBA bits of vectors [@start, @end) */
static void vfio_pci_msix_vector_poll(PCIDevice *pdev, unsigned int start,
                                      unsigned end)
{
    MSIXEventfds *efds =
        vfio_msix_engine_eventfds(vfio_pci_msi_engine_of(pdev));

    if (end > start) {
        msix_eventfds_poll(efds, start, end - start);
    }
}

const PropertyInfo vfio_pci_msix_alloc_info = {
    .type = "VfioMsixAlloc",
    .description = "auto/table/vector",
    .enum_table = &VfioMsixAlloc_lookup,
    .get = qdev_propinfo_get_enum,
    .set = qdev_propinfo_set_enum,
    .set_default_value = qdev_propinfo_set_default_value_enum,
};

/* What x-msix-alloc means on this host */
static VFIOMSIXAlloc vfio_pci_msix_alloc(VFIOPCIDevice *vdev)
{
    switch (vdev->msix_alloc) {
    case VFIO_MSIX_ALLOC_POLICY_TABLE:
        return VFIO_MSIX_ALLOC_TABLE;
    case VFIO_MSIX_ALLOC_POLICY_VECTOR:
        return VFIO_MSIX_ALLOC_VECTOR;
    default:
        return vdev->msix->noresize ? VFIO_MSIX_ALLOC_TABLE
                                    : VFIO_MSIX_ALLOC_VECTOR;
    }
}

static bool vfio_pci_msix_alloc_check(VFIOPCIDevice *vdev, Error **errp)
{
    if (vdev->msix_alloc == VFIO_MSIX_ALLOC_POLICY_VECTOR &&
        vdev->msix->noresize) {
        error_setg(errp, "x-msix-alloc=vector needs a host that adds MSI-X "
                   "vectors while MSI-X is on; this one reports "
                   "VFIO_IRQ_INFO_NORESIZE");
        return false;
    }
    return true;
}


/*
 * Whether the host may forward this VM's MSIs to it as vLPIs (GICv4):
 * only through an ITS, whose routes carry a DeviceID, and then the vPE
 * doorbells ("GICv4-vpe" in /proc/interrupts) exist once the host uses
 * GICv4 for the VM.  No kernel interface says whether a given irqfd is
 * forwarded, so any doorbell counts as a yes.  Read once, at the first
 * enable, when this VM's GIC exists: the file can be large, and a guest
 * toggles Enable at will.
 */
static bool vfio_pci_host_has_vlpis(void)
{
    static int has_vlpis = -1;
    g_autofree char *text = NULL;

    if (!kvm_irqfds_enabled() || !kvm_msi_devid_required()) {
        return false;
    }
    if (has_vlpis < 0) {
        has_vlpis = g_file_get_contents("/proc/interrupts", &text, NULL,
                                        NULL) &&
                    strstr(text, "GICv4") != NULL;
    }
    return has_vlpis;
}

/*
 * A vLPI pending when its vector is masked is dropped by the host, not
 * handed back (docs/devel/vmsix-gicv4.rst): with vLPIs, each unmask of
 * a vector masked while forwarded sends one MSI.  Set at each enable,
 * from the property or, for auto, from the host (read once).
 */
static void vfio_pci_msi_follow_vlpis(VFIOPCIDevice *vdev)
{
    bool on;

    switch (vdev->msix_vlpi_resend) {
    case ON_OFF_AUTO_ON:
        on = true;
        break;
    case ON_OFF_AUTO_OFF:
        on = false;
        break;
    default:
        on = vfio_pci_host_has_vlpis();
        break;
    }
    msix_eventfds_set_vlpi_resend(vfio_msix_engine_eventfds(vdev->msix_engine),
                                  on);
}

void vfio_pci_msix_enable(VFIOPCIDevice *vdev)
{
    PCIDevice *pdev = &vdev->pdev;
    unsigned i;

    vdev->interrupt = VFIO_INT_MSIX;
    vdev->msix_pba_holdoff = false;
    vfio_pci_msi_follow_vlpis(vdev);
    /* Without a use count, msix_notify() drops the vector's MSIs */
    for (i = 0; i < vdev->msix->entries; i++) {
        msix_vector_use(pdev, i);
    }
    vfio_msix_engine_begin(vdev->msix_engine);
    /* The MSI-X table and PBA, whatever MSI's Enable bit says */
    vfio_msix_engine_enable(vdev->msix_engine, VFIO_MSIX_MODE_MSIX,
                            vdev->msix->entries, vfio_pci_msix_alloc(vdev),
                            msix_eventfds_pci_ops(!vdev->no_kvm_msix));
    msix_set_vector_notifiers(pdev, vfio_pci_msix_vector_use,
                              vfio_pci_msix_vector_release,
                              vfio_pci_msix_vector_poll);
    vfio_msix_engine_commit(vdev->msix_engine);
    vfio_pci_msix_update_pba_trap(vdev);
    trace_vfio_msix_enable(vdev->vbasedev.name);
}

bool vfio_pci_msix_disable(VFIOPCIDevice *vdev)
{
    PCIDevice *pdev = &vdev->pdev;
    unsigned i;

    if (vdev->interrupt != VFIO_INT_MSIX) {
        /* MSI took over: the MSI-X Enable bit the guest left drives nothing */
        return false;
    }
    /* First, so that the notifiers' releases find every vector released */
    vfio_msix_engine_disable(vdev->msix_engine);
    msix_unset_vector_notifiers(pdev);
    for (i = 0; i < vdev->msix->entries; i++) {
        msix_vector_unuse(pdev, i);
    }
    vdev->interrupt = VFIO_INT_NONE;
    vfio_pci_msix_update_pba_trap(vdev);
    /* A hold-off still running would find nothing to untrap */
    if (vdev->msix_pba_timer) {
        timer_del(vdev->msix_pba_timer);
    }
    trace_vfio_msix_disable(vdev->vbasedev.name);
    return true;
}

void vfio_pci_msix_begin(VFIOPCIDevice *vdev)
{
    if (vdev->msix_engine) {
        vfio_msix_engine_begin(vdev->msix_engine);
    }
}

void vfio_pci_msix_commit(VFIOPCIDevice *vdev)
{
    if (vdev->msix_engine) {
        vfio_msix_engine_commit(vdev->msix_engine);
        /* The host's vectors are live only now */
        vfio_pci_msix_update_pba_trap(vdev);
    }
}

void vfio_pci_msix_sync(VFIOPCIDevice *vdev)
{
    VFIOMSIXEngine *e = vdev->msix_engine;

    /* What masked vectors' eventfds hold too, as a PBA read sees it */
    if (e && vfio_msix_engine_vectors(e)) {
        msix_eventfds_poll(vfio_msix_engine_eventfds(e), 0,
                           vfio_msix_engine_vectors(e));
    }
}

/*
 * MSI: each vector follows its mask bit and its message.  The host got
 * the vectors enabled when MSI was turned on; a guest that shrinks
 * Multiple Message Enable while MSI is on loses the vectors beyond it,
 * and one that grows it gets no more.
 */
static void vfio_pci_msi_follow_guest(VFIOPCIDevice *vdev)
{
    PCIDevice *pdev = &vdev->pdev;
    unsigned i, nr = vfio_msix_engine_vectors(vdev->msix_engine);

    if (msi_nr_vectors_allocated(pdev) != nr) {
        nr = MIN(nr, msi_nr_vectors_allocated(pdev));
        qemu_log_mask(LOG_GUEST_ERROR, "%s: Multiple Message Enable changed "
                      "while MSI is on; vectors from %u on are ignored "
                      "until MSI is enabled again\n", vdev->vbasedev.name,
                      nr);
        vfio_msix_engine_shrink(vdev->msix_engine, nr);
    }
    for (i = 0; i < nr; i++) {
        vfio_msix_engine_set_vector(vdev->msix_engine, i,
                                    !msi_is_masked(pdev, i),
                                    msi_get_message(pdev, i));
    }
}

void vfio_pci_msi_enable(VFIOPCIDevice *vdev)
{
    unsigned nr = msi_nr_vectors_allocated(&vdev->pdev);

    vdev->interrupt = VFIO_INT_MSI;
    vfio_pci_msi_follow_vlpis(vdev);
    vfio_pci_msix_update_pba_trap(vdev);
    /* The host cannot add MSI vectors later: all of them at once */
    vfio_msix_engine_begin(vdev->msix_engine);
    /* The MSI capability, whatever MSI-X's Enable bit says */
    vfio_msix_engine_enable(vdev->msix_engine, VFIO_MSIX_MODE_MSI, nr,
                            VFIO_MSIX_ALLOC_TABLE,
                            msix_eventfds_pci_msi_ops(!vdev->no_kvm_msi));
    vfio_pci_msi_follow_guest(vdev);
    vfio_msix_engine_commit(vdev->msix_engine);
    trace_vfio_msi_enable(vdev->vbasedev.name, nr);
}

void vfio_pci_msi_update(VFIOPCIDevice *vdev)
{
    if (vdev->interrupt != VFIO_INT_MSI) {
        return;
    }
    vfio_msix_engine_begin(vdev->msix_engine);
    vfio_pci_msi_follow_guest(vdev);
    vfio_msix_engine_commit(vdev->msix_engine);
}

bool vfio_pci_msi_disable(VFIOPCIDevice *vdev)
{
    if (vdev->interrupt != VFIO_INT_MSI) {
        /* MSI-X took over: the MSI Enable bit the guest left drives nothing */
        return false;
    }
    vfio_msix_engine_disable(vdev->msix_engine);
    vdev->interrupt = VFIO_INT_NONE;
    return true;
}

void vfio_pci_msi_poll(VFIOPCIDevice *vdev, uint32_t addr, int len)
{
    PCIDevice *pdev = &vdev->pdev;

    if (vdev->msix_engine && vdev->interrupt == VFIO_INT_MSI &&
        ranges_overlap(addr, len, pdev->msi_cap, vdev->msi_cap_size)) {
        msix_eventfds_poll(vfio_msix_engine_eventfds(vdev->msix_engine), 0,
                           vfio_msix_engine_vectors(vdev->msix_engine));
    }
}

static void vfio_pci_msix_exit_notify(Notifier *n, void *data)
{
    VFIOPCIDevice *vdev = container_of(n, VFIOPCIDevice, msix_exit);

    msix_eventfds_stop_poller(vfio_msix_engine_eventfds(vdev->msix_engine));
}

/* x-query-msix */

static MsixMode vfio_pci_msix_query_mode(PCIDevice *pdev)
{
    switch (VFIO_PCI(pdev)->interrupt) {
    case VFIO_INT_MSIX:
        return MSIX_MODE_MSIX;
    case VFIO_INT_MSI:
        return MSIX_MODE_MSI;
    case VFIO_INT_INTx:
        return MSIX_MODE_INTX;
    default:
        return MSIX_MODE_NONE;
    }
}

static void vfio_pci_msix_query_host(PCIDevice *pdev, MsixHostInfo *info)
{
    VFIOPCIDevice *vdev = VFIO_PCI(pdev);
    VFIOMSIXEngine *e = vdev->msix_engine;
    unsigned i, nr = msix_eventfds_nr(vfio_msix_engine_eventfds(e));
    VFIOMSIXStats st;

    vfio_msix_engine_get_stats(e, &st);
    info->policy = msix_present(pdev) &&
                   vfio_pci_msix_alloc(vdev) == VFIO_MSIX_ALLOC_VECTOR ?
                   MSIX_HOST_POLICY_VECTOR : MSIX_HOST_POLICY_TABLE;
    for (i = 0; i < nr; i++) {
        info->vectors += vfio_msix_engine_host_vector(e, i);
    }
    info->set_irqs = st.set_irqs;
    info->set_irqs_refused = st.host_failures;
    info->refused_vectors = st.host_refused;
}

static const MSIXEventfdsUser vfio_pci_msix_query_user = {
    .mode = vfio_pci_msix_query_mode,
    .serves_msi = true,
    .host_info = vfio_pci_msix_query_host,
};

/* How many vectors the MSI capability offers */
static unsigned vfio_pci_msi_max_vectors(PCIDevice *pdev)
{
    uint16_t flags;

    if (!msi_present(pdev)) {
        return 0;
    }
    flags = pci_get_word(pdev->config + pdev->msi_cap + PCI_MSI_FLAGS);
    return 1U << ((flags & PCI_MSI_FLAGS_QMASK) >> ctz32(PCI_MSI_FLAGS_QMASK));
}

bool vfio_pci_msi_engine_init(VFIOPCIDevice *vdev, Error **errp)
{
    PCIDevice *pdev = &vdev->pdev;
    bool has_msix = vdev->msix && msix_present(pdev);
    MSIXEventfds *efds;
    unsigned nr;

    /* Machines with paravirt MSI-X setup leave the table to the device */
    if (!vdev->msix_poller ||
        (has_msix && !pdev->msix_table_mmio.enabled)) {
        return true;
    }
    nr = MAX(has_msix ? vdev->msix->entries : 0,
             vfio_pci_msi_max_vectors(pdev));
    if (!nr) {
        return true;
    }
    if (has_msix && !vfio_pci_msix_alloc_check(vdev, errp)) {
        return false;
    }
    efds = msix_eventfds_new(vdev->vbasedev.name, nr,
                             msix_eventfds_pci_ops(!vdev->no_kvm_msix), pdev,
                             errp);
    if (!efds) {
        return false;
    }
    vdev->msix_engine = vfio_msix_engine_new(vdev->vbasedev.name, efds,
                                             &vfio_pci_msix_host_ops, vdev);
    if (has_msix) {
        /*
         * The poll notifier keeps the emulated PBA accurate: show it,
         * until every vector is unmasked
         */
        memory_region_set_enabled(&pdev->msix_pba_mmio, true);
        vdev->msix_pba_timer =
            timer_new_ms(QEMU_CLOCK_VIRTUAL,
                         vfio_pci_msix_pba_holdoff_expired, vdev);
    }
    vdev->msix_exit.notify = vfio_pci_msix_exit_notify;
    qemu_add_exit_notifier(&vdev->msix_exit);
    msix_eventfds_register(efds, pdev, &vfio_pci_msix_query_user);
    trace_vfio_pci_msi_engine_init(vdev->vbasedev.name, nr,
                                   !has_msix ? "none" :
                                   vfio_pci_msix_alloc(vdev) ==
                                   VFIO_MSIX_ALLOC_TABLE ? "table" : "vector");
    return true;
}

void vfio_pci_msi_engine_exit(VFIOPCIDevice *vdev)
{
    if (vdev->msix_engine) {
        msix_eventfds_unregister(
            vfio_msix_engine_eventfds(vdev->msix_engine));
        qemu_remove_exit_notifier(&vdev->msix_exit);
        timer_free(vdev->msix_pba_timer);
        vdev->msix_pba_timer = NULL;
        vfio_msix_engine_free(vdev->msix_engine);
        vdev->msix_engine = NULL;
    }
}

bool vfio_pci_msix_get_stats(VFIOPCIDevice *vdev, int vector,
                             MSIXEventfdStats *vec, VFIOMSIXStats *host)
{
    if (!vdev->msix_engine) {
        return false;
    }
    msix_eventfds_get_stats(vfio_msix_engine_eventfds(vdev->msix_engine),
                            vector, vec);
    vfio_msix_engine_get_stats(vdev->msix_engine, host);
    return true;
}
