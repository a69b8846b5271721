/*
 * msix-testdev: PCIe test device that raises MSI-X vectors on request
 *
 * The guest (or a qtest) raises vectors through the register BAR, and an
 * optional sink BAR counts the memory writes that MSI-X messages aimed at
 * it produce, so that delivery can be checked exactly.  The MSI-X table
 * and PBA can be placed in several ways that device assignment has to
 * cope with.  See docs/specs/msix-testdev.rst.
 *
 * Copyright (c) 2026 The qemu-vmsix authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/log.h"
#include "qemu/module.h"
#include "qemu/timer.h"
#include "qemu/main-loop.h"
#include "qemu/units.h"
#include "qapi/error.h"
#include "hw/pci/pci_device.h"
#include "hw/pci/pcie.h"
#include "hw/pci/msi.h"
#include "hw/pci/msix.h"
#include "hw/pci/msix-eventfd.h"
#include "hw/pci/msix-eventfd-qmp.h"
#include "hw/qdev-properties.h"
#include "migration/vmstate.h"
#include "hw/misc/msix-testdev.h"
#include "trace.h"

OBJECT_DECLARE_SIMPLE_TYPE(MsixTestdevState, MSIX_TESTDEV)

/* Fixed positions of the capabilities in configuration space */
#define MSIX_TESTDEV_MSI_CAP            0x50
#define MSIX_TESTDEV_MSIX_CAP           0x70
#define MSIX_TESTDEV_PCIE_CAP           0x80

/* Offset of the MSI-X table in the register BAR ("shared-bar") */
#define MSIX_TESTDEV_SHARED_TABLE       0x1000
/* Offset of the MSI-X table in the MSI-X BAR ("same-page") */
#define MSIX_TESTDEV_SAME_PAGE_TABLE    0x100

#define MSIX_TESTDEV_PAGE               0x1000
#define MSIX_TESTDEV_MIN_PERIOD_US      10

struct MsixTestdevState {
    PCIDevice parent_obj;

    /* Properties */
    uint32_t vectors;
    char *layout_name;
    bool msi;
    bool intx;
    bool sink;
    bool eventfd;
    uint32_t fake_kvm_routes;

    uint32_t layout;
    MemoryRegion reg_bar;       /* container, "shared-bar" only */
    MemoryRegion regs;
    MemoryRegion msix_bar;
    MemoryRegion pba_bar;       /* "split-bar" only */
    MemoryRegion sink_mr;
    MemoryRegion *table_mr;     /* where msix_init() put table and PBA */
    MemoryRegion *pba_mr;

    MSIXEventfds *efds;         /* eventfd mode */
    MSIXEventfdOps fake_kvm_ops;
    int32_t *fake_route;        /* vector of each fake route, or -1 */
    struct MsixTestdevFakeIrqfd *fake_irqfd;    /* one per fake route */

    /* Register state */
    uint32_t range_first;
    uint32_t range_count;
    uint32_t raise_total;
    uint32_t raise_disabled;
    uint32_t raise_masked;
    uint32_t bad_input;
    uint32_t vec_sel;
    uint32_t *vec_count;
    uint32_t intx_level;

    uint32_t auto_first;
    uint32_t auto_count;
    uint32_t auto_period;
    uint32_t auto_ticks;
    bool auto_running;
    int64_t auto_next;
    QEMUTimer *auto_timer;

    /* Sink state */
    uint32_t sink_slot[MSIX_TESTDEV_SINK_SLOTS];
    uint32_t sink_total;
    uint32_t sink_last_data;
    uint32_t sink_last_rid;
    uint32_t sink_last_slot;
};

static const char *const msix_testdev_layouts[] = {
    [MSIX_TESTDEV_LAYOUT_OWN_BAR] = "own-bar",
    [MSIX_TESTDEV_LAYOUT_SHARED_BAR] = "shared-bar",
    [MSIX_TESTDEV_LAYOUT_SAME_PAGE] = "same-page",
    [MSIX_TESTDEV_LAYOUT_SPLIT_BAR] = "split-bar",
};

static void G_GNUC_PRINTF(2, 3)
msix_testdev_bad(MsixTestdevState *s, const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    va_list ap;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);

    s->bad_input++;
    qemu_log_mask(LOG_GUEST_ERROR, "%s: %s\n", TYPE_MSIX_TESTDEV, msg);
}

/* Hand a raised vector to the MSI-X core (masking and PBA are its job) */
static void msix_testdev_notify(MsixTestdevState *s, uint32_t vector)
{
    PCIDevice *pdev = PCI_DEVICE(s);
    bool masked = msix_is_masked(pdev, vector);

    if (masked) {
        s->raise_masked++;
    }
    trace_msix_testdev_notify(vector, masked);
    msix_notify(pdev, vector);
}

/* Caller checked that @vector is in range */
static void msix_testdev_raise_one(MsixTestdevState *s, uint32_t vector)
{
    PCIDevice *pdev = PCI_DEVICE(s);

    s->raise_total++;
    s->vec_count[vector]++;

    if (!msix_enabled(pdev)) {
        s->raise_disabled++;
        trace_msix_testdev_raise_disabled(vector);
        return;
    }
    if (s->efds) {
        /* The vector's eventfd owner does masking and the PBA */
        if (msix_is_masked(pdev, vector)) {
            s->raise_masked++;
        }
        trace_msix_testdev_signal(vector);
        event_notifier_set(msix_eventfds_notifier(s->efds, vector));
        return;
    }
    msix_testdev_notify(s, vector);
}

static bool msix_testdev_raise_range(MsixTestdevState *s, const char *what,
                                     uint32_t first, uint32_t count)
{
    uint32_t i;

    if (count == 0 || (uint64_t)first + count > s->vectors) {
        msix_testdev_bad(s, "%s: vectors %" PRIu32 "+%" PRIu32
                         " out of range (%" PRIu32 " vectors)",
                         what, first, count, s->vectors);
        return false;
    }
    trace_msix_testdev_raise(first, count);
    for (i = 0; i < count; i++) {
        msix_testdev_raise_one(s, first + i);
    }
    return true;
}

static int msix_testdev_vector_use(PCIDevice *pdev, unsigned int vector,
                                   MSIMessage msg)
{
    msix_eventfds_unmask(MSIX_TESTDEV(pdev)->efds, vector, msg);
    return 0;
}

static void msix_testdev_vector_release(PCIDevice *pdev, unsigned int vector)
{
    msix_eventfds_mask(MSIX_TESTDEV(pdev)->efds, vector);
}

static void msix_testdev_vector_poll(PCIDevice *pdev, unsigned int start,
                                     unsigned int end)
{
    if (end > start) {
        msix_eventfds_poll(MSIX_TESTDEV(pdev)->efds, start, end - start);
    }
}

static void msix_testdev_auto_stop(MsixTestdevState *s)
{
    if (s->auto_running) {
        trace_msix_testdev_auto(false, s->auto_first, s->auto_count,
                                s->auto_period);
    }
    s->auto_running = false;
    timer_del(s->auto_timer);
}

static void msix_testdev_auto_arm(MsixTestdevState *s)
{
    s->auto_next += (int64_t)s->auto_period * SCALE_US;
    timer_mod(s->auto_timer, s->auto_next);
}

static void msix_testdev_auto_tick(void *opaque)
{
    MsixTestdevState *s = opaque;

    if (!s->auto_running) {
        return;
    }
    s->auto_ticks++;
    if (s->auto_period < MSIX_TESTDEV_MIN_PERIOD_US ||
        !msix_testdev_raise_range(s, "AUTO", s->auto_first, s->auto_count)) {
        msix_testdev_auto_stop(s);
        return;
    }
    msix_testdev_auto_arm(s);
}

static void msix_testdev_auto_ctrl(MsixTestdevState *s, uint32_t val)
{
    if (!(val & MSIX_TESTDEV_AUTO_RUN)) {
        msix_testdev_auto_stop(s);
        return;
    }
    if (s->auto_period < MSIX_TESTDEV_MIN_PERIOD_US) {
        msix_testdev_bad(s, "AUTO_CTRL: period %" PRIu32 " us is below %d us",
                         s->auto_period, MSIX_TESTDEV_MIN_PERIOD_US);
        return;
    }
    if (s->auto_count == 0 ||
        (uint64_t)s->auto_first + s->auto_count > s->vectors) {
        msix_testdev_bad(s, "AUTO_CTRL: vectors %" PRIu32 "+%" PRIu32
                         " out of range (%" PRIu32 " vectors)",
                         s->auto_first, s->auto_count, s->vectors);
        return;
    }
    if (s->auto_running) {
        return;
    }
    s->auto_running = true;
    s->auto_ticks = 0;
    s->auto_next = qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL);
    trace_msix_testdev_auto(true, s->auto_first, s->auto_count,
                            s->auto_period);
    msix_testdev_auto_arm(s);
}

static void msix_testdev_msi_raise(MsixTestdevState *s, uint32_t vector)
{
    PCIDevice *pdev = PCI_DEVICE(s);

    if (!s->msi) {
        msix_testdev_bad(s, "MSI_RAISE: the device has no MSI capability");
        return;
    }
    if (vector >= msi_nr_vectors_allocated(pdev)) {
        msix_testdev_bad(s, "MSI_RAISE: vector %" PRIu32 " out of range",
                         vector);
        return;
    }
    if (msi_enabled(pdev)) {
        msi_notify(pdev, vector);
    }
}

static void msix_testdev_set_intx(MsixTestdevState *s, uint32_t val)
{
    if (!s->intx) {
        msix_testdev_bad(s, "INTX: the device has no INTx pin");
        return;
    }
    s->intx_level = val & MSIX_TESTDEV_INTX_LEVEL;
    pci_set_irq(PCI_DEVICE(s), s->intx_level);
}

static void msix_testdev_reset_counters(MsixTestdevState *s)
{
    s->raise_total = 0;
    s->raise_disabled = 0;
    s->raise_masked = 0;
    s->bad_input = 0;
    memset(s->vec_count, 0, s->vectors * sizeof(*s->vec_count));
}

static uint32_t msix_testdev_features(MsixTestdevState *s)
{
    return s->layout |
           (s->msi ? MSIX_TESTDEV_FEAT_MSI : 0) |
           (s->intx ? MSIX_TESTDEV_FEAT_INTX : 0) |
           (s->sink ? MSIX_TESTDEV_FEAT_SINK : 0) |
           (s->eventfd ? MSIX_TESTDEV_FEAT_EVENTFD : 0) |
           (s->efds ? MSIX_TESTDEV_FEAT_CONSUMER : 0);
}

static uint64_t msix_testdev_read(void *opaque, hwaddr addr, unsigned size)
{
    MsixTestdevState *s = opaque;
    uint32_t val;

    switch (addr) {
    case MSIX_TESTDEV_REG_ID:
        val = MSIX_TESTDEV_ID_VALUE;
        break;
    case MSIX_TESTDEV_REG_VERSION:
        val = MSIX_TESTDEV_VERSION_VALUE;
        break;
    case MSIX_TESTDEV_REG_VECTORS:
        val = s->vectors;
        break;
    case MSIX_TESTDEV_REG_FEATURES:
        val = msix_testdev_features(s);
        break;
    case MSIX_TESTDEV_REG_RANGE_FIRST:
        val = s->range_first;
        break;
    case MSIX_TESTDEV_REG_RANGE_COUNT:
        val = s->range_count;
        break;
    case MSIX_TESTDEV_REG_RAISE_TOTAL:
        val = s->raise_total;
        break;
    case MSIX_TESTDEV_REG_RAISE_DISABLED:
        val = s->raise_disabled;
        break;
    case MSIX_TESTDEV_REG_RAISE_MASKED:
        val = s->raise_masked;
        break;
    case MSIX_TESTDEV_REG_BAD_INPUT:
        val = s->bad_input;
        break;
    case MSIX_TESTDEV_REG_VEC_SEL:
        val = s->vec_sel;
        break;
    case MSIX_TESTDEV_REG_VEC_COUNT:
        val = s->vec_sel < s->vectors ? s->vec_count[s->vec_sel] : 0;
        break;
    case MSIX_TESTDEV_REG_AUTO_FIRST:
        val = s->auto_first;
        break;
    case MSIX_TESTDEV_REG_AUTO_COUNT:
        val = s->auto_count;
        break;
    case MSIX_TESTDEV_REG_AUTO_PERIOD:
        val = s->auto_period;
        break;
    case MSIX_TESTDEV_REG_AUTO_CTRL:
        val = s->auto_running ? MSIX_TESTDEV_AUTO_RUN : 0;
        break;
    case MSIX_TESTDEV_REG_AUTO_TICKS:
        val = s->auto_ticks;
        break;
    case MSIX_TESTDEV_REG_INTX:
        val = s->intx_level;
        break;
    case MSIX_TESTDEV_REG_RAISE:
    case MSIX_TESTDEV_REG_RAISE_ALL:
    case MSIX_TESTDEV_REG_COUNTER_RESET:
    case MSIX_TESTDEV_REG_MSI_RAISE:
        val = 0;
        break;
    default:
        msix_testdev_bad(s, "read of unknown register 0x%" HWADDR_PRIx, addr);
        val = 0;
        break;
    }
    return val;
}

static void msix_testdev_write(void *opaque, hwaddr addr, uint64_t val64,
                               unsigned size)
{
    MsixTestdevState *s = opaque;
    uint32_t val = val64;

    trace_msix_testdev_write(addr, val);
    switch (addr) {
    case MSIX_TESTDEV_REG_RAISE:
        msix_testdev_raise_range(s, "RAISE", val, 1);
        break;
    case MSIX_TESTDEV_REG_RANGE_FIRST:
        s->range_first = val;
        break;
    case MSIX_TESTDEV_REG_RANGE_COUNT:
        s->range_count = val;
        msix_testdev_raise_range(s, "RANGE_COUNT", s->range_first, val);
        break;
    case MSIX_TESTDEV_REG_RAISE_ALL:
        msix_testdev_raise_range(s, "RAISE_ALL", 0, s->vectors);
        break;
    case MSIX_TESTDEV_REG_VEC_SEL:
        s->vec_sel = val;
        if (val >= s->vectors) {
            msix_testdev_bad(s, "VEC_SEL: vector %" PRIu32
                             " out of range (%" PRIu32 " vectors)",
                             val, s->vectors);
        }
        break;
    case MSIX_TESTDEV_REG_COUNTER_RESET:
        msix_testdev_reset_counters(s);
        break;
    case MSIX_TESTDEV_REG_AUTO_FIRST:
        s->auto_first = val;
        break;
    case MSIX_TESTDEV_REG_AUTO_COUNT:
        s->auto_count = val;
        break;
    case MSIX_TESTDEV_REG_AUTO_PERIOD:
        s->auto_period = val;
        break;
    case MSIX_TESTDEV_REG_AUTO_CTRL:
        msix_testdev_auto_ctrl(s, val);
        break;
    case MSIX_TESTDEV_REG_MSI_RAISE:
        msix_testdev_msi_raise(s, val);
        break;
    case MSIX_TESTDEV_REG_INTX:
        msix_testdev_set_intx(s, val);
        break;
    case MSIX_TESTDEV_REG_ID:
    case MSIX_TESTDEV_REG_VERSION:
    case MSIX_TESTDEV_REG_VECTORS:
    case MSIX_TESTDEV_REG_FEATURES:
    case MSIX_TESTDEV_REG_RAISE_TOTAL:
    case MSIX_TESTDEV_REG_RAISE_DISABLED:
    case MSIX_TESTDEV_REG_RAISE_MASKED:
    case MSIX_TESTDEV_REG_BAD_INPUT:
    case MSIX_TESTDEV_REG_VEC_COUNT:
    case MSIX_TESTDEV_REG_AUTO_TICKS:
        msix_testdev_bad(s, "write to read-only register 0x%" HWADDR_PRIx,
                         addr);
        break;
    default:
        msix_testdev_bad(s, "write of unknown register 0x%" HWADDR_PRIx,
                         addr);
        break;
    }
}

static const MemoryRegionOps msix_testdev_ops = {
    .read = msix_testdev_read,
    .write = msix_testdev_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid = {
        .min_access_size = 4,
        .max_access_size = 4,
    },
    .impl = {
        .min_access_size = 4,
        .max_access_size = 4,
    },
};

static void msix_testdev_sink_clear(MsixTestdevState *s)
{
    memset(s->sink_slot, 0, sizeof(s->sink_slot));
    s->sink_total = 0;
    s->sink_last_data = 0;
    s->sink_last_rid = 0;
    s->sink_last_slot = MSIX_TESTDEV_SINK_NO_SLOT;
}

static MemTxResult msix_testdev_sink_read(void *opaque, hwaddr addr,
                                          uint64_t *data, unsigned size,
                                          MemTxAttrs attrs)
{
    MsixTestdevState *s = opaque;

    if (addr < MSIX_TESTDEV_SINK_SLOT(MSIX_TESTDEV_SINK_SLOTS)) {
        *data = s->sink_slot[addr / 4];
        return MEMTX_OK;
    }
    switch (addr) {
    case MSIX_TESTDEV_SINK_TOTAL:
        *data = s->sink_total;
        break;
    case MSIX_TESTDEV_SINK_LAST_DATA:
        *data = s->sink_last_data;
        break;
    case MSIX_TESTDEV_SINK_LAST_RID:
        *data = s->sink_last_rid;
        break;
    case MSIX_TESTDEV_SINK_LAST_SLOT:
        *data = s->sink_last_slot;
        break;
    case MSIX_TESTDEV_SINK_RESET:
        *data = 0;
        break;
    default:
        msix_testdev_bad(s, "read of unknown sink register 0x%" HWADDR_PRIx,
                         addr);
        *data = 0;
        break;
    }
    return MEMTX_OK;
}

static MemTxResult msix_testdev_sink_write(void *opaque, hwaddr addr,
                                           uint64_t data, unsigned size,
                                           MemTxAttrs attrs)
{
    MsixTestdevState *s = opaque;
    uint32_t slot;

    if (addr < MSIX_TESTDEV_SINK_SLOT(MSIX_TESTDEV_SINK_SLOTS)) {
        slot = addr / 4;
        s->sink_slot[slot]++;
        s->sink_total++;
        s->sink_last_data = data;
        s->sink_last_rid = attrs.requester_id;
        s->sink_last_slot = slot;
        trace_msix_testdev_sink(slot, data, attrs.requester_id);
    } else if (addr == MSIX_TESTDEV_SINK_RESET) {
        msix_testdev_sink_clear(s);
    } else {
        msix_testdev_bad(s, "write to sink register 0x%" HWADDR_PRIx
                         " that is not a slot", addr);
    }
    return MEMTX_OK;
}

static const MemoryRegionOps msix_testdev_sink_ops = {
    .read_with_attrs = msix_testdev_sink_read,
    .write_with_attrs = msix_testdev_sink_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid = {
        .min_access_size = 4,
        .max_access_size = 4,
    },
    .impl = {
        .min_access_size = 4,
        .max_access_size = 4,
    },
};

static bool msix_testdev_parse_layout(MsixTestdevState *s, Error **errp)
{
    const char *name = s->layout_name ? s->layout_name : "own-bar";
    uint32_t i;

    for (i = 0; i < ARRAY_SIZE(msix_testdev_layouts); i++) {
        if (!strcmp(name, msix_testdev_layouts[i])) {
            s->layout = i;
            return true;
        }
    }
    error_setg(errp, "invalid layout '%s'", name);
    error_append_hint(errp, "Valid layouts: own-bar, shared-bar, same-page,"
                      " split-bar\n");
    return false;
}

/* Create the BARs for the chosen layout and the MSI-X capability */
static bool msix_testdev_init_msix(MsixTestdevState *s, Error **errp)
{
    PCIDevice *pdev = PCI_DEVICE(s);
    uint32_t table_size = s->vectors * PCI_MSIX_ENTRY_SIZE;
    uint32_t pba_size = QEMU_ALIGN_UP(s->vectors, 64) / 8;
    MemoryRegion *table_mr, *pba_mr;
    uint8_t table_bar, pba_bar;
    uint32_t table_off, pba_off, size;

    memory_region_init_io(&s->regs, OBJECT(s), &msix_testdev_ops, s,
                          "msix-testdev-regs", MSIX_TESTDEV_REG_SIZE);

    switch (s->layout) {
    case MSIX_TESTDEV_LAYOUT_SHARED_BAR:
        table_bar = pba_bar = MSIX_TESTDEV_REG_BAR;
        table_off = MSIX_TESTDEV_SHARED_TABLE;
        pba_off = table_off + QEMU_ALIGN_UP(table_size, MSIX_TESTDEV_PAGE);
        size = pow2ceil(pba_off + pba_size);
        memory_region_init(&s->reg_bar, OBJECT(s), "msix-testdev-bar0", size);
        memory_region_add_subregion(&s->reg_bar, 0, &s->regs);
        table_mr = pba_mr = &s->reg_bar;
        break;
    case MSIX_TESTDEV_LAYOUT_SAME_PAGE:
        /* The PBA is at most 256 bytes: both start in the first page */
        table_bar = pba_bar = MSIX_TESTDEV_MSIX_BAR;
        pba_off = 0;
        table_off = MSIX_TESTDEV_SAME_PAGE_TABLE;
        size = pow2ceil(MAX(table_off + table_size, MSIX_TESTDEV_PAGE));
        memory_region_init(&s->msix_bar, OBJECT(s), "msix-testdev-msix",
                           size);
        table_mr = pba_mr = &s->msix_bar;
        break;
    case MSIX_TESTDEV_LAYOUT_SPLIT_BAR:
        table_bar = MSIX_TESTDEV_MSIX_BAR;
        pba_bar = MSIX_TESTDEV_PBA_BAR;
        table_off = pba_off = 0;
        size = pow2ceil(MAX(table_size, MSIX_TESTDEV_PAGE));
        memory_region_init(&s->msix_bar, OBJECT(s), "msix-testdev-msix",
                           size);
        memory_region_init(&s->pba_bar, OBJECT(s), "msix-testdev-pba",
                           MSIX_TESTDEV_PAGE);
        table_mr = &s->msix_bar;
        pba_mr = &s->pba_bar;
        break;
    default:
        table_bar = pba_bar = MSIX_TESTDEV_MSIX_BAR;
        table_off = 0;
        pba_off = QEMU_ALIGN_UP(table_size, MSIX_TESTDEV_PAGE);
        size = pow2ceil(pba_off + pba_size);
        memory_region_init(&s->msix_bar, OBJECT(s), "msix-testdev-msix",
                           size);
        table_mr = pba_mr = &s->msix_bar;
        break;
    }

    if (msix_init(pdev, s->vectors, table_mr, table_bar, table_off,
                  pba_mr, pba_bar, pba_off, MSIX_TESTDEV_MSIX_CAP, errp)) {
        return false;
    }
    s->table_mr = table_mr;
    s->pba_mr = pba_mr;

    pci_register_bar(pdev, MSIX_TESTDEV_REG_BAR, PCI_BASE_ADDRESS_SPACE_MEMORY,
                     s->layout == MSIX_TESTDEV_LAYOUT_SHARED_BAR ?
                     &s->reg_bar : &s->regs);
    if (s->layout != MSIX_TESTDEV_LAYOUT_SHARED_BAR) {
        pci_register_bar(pdev, MSIX_TESTDEV_MSIX_BAR,
                         PCI_BASE_ADDRESS_SPACE_MEMORY, &s->msix_bar);
    }
    if (s->layout == MSIX_TESTDEV_LAYOUT_SPLIT_BAR) {
        pci_register_bar(pdev, MSIX_TESTDEV_PBA_BAR,
                         PCI_BASE_ADDRESS_SPACE_MEMORY, &s->pba_bar);
    }
    return true;
}

/*
 * x-fake-kvm-routes=N: a fake in-kernel irqchip with N MSI routes, for
 * qtests under TCG.  Its "irqfd" is a main loop handler that injects the
 * route's vector, as KVM would; a vector that finds the table full falls
 * back to QEMU as with KVM, so the monitor's events and counters can be
 * tested without KVM.
 */
typedef struct MsixTestdevFakeIrqfd {
    MsixTestdevState *s;
    EventNotifier *n;
    int virq;
} MsixTestdevFakeIrqfd;

static int msix_testdev_fake_route_set(void *opaque, unsigned vector,
                                       int virq, MSIMessage msg,
                                       bool *changed, Error **errp)
{
    MsixTestdevState *s = MSIX_TESTDEV(opaque);
    uint32_t i;

    if (virq >= 0) {
        return virq;
    }
    for (i = 0; i < s->fake_kvm_routes; i++) {
        if (s->fake_route[i] < 0) {
            s->fake_route[i] = vector;
            *changed = true;
            trace_msix_testdev_fake_route(vector, i, true);
            return i;
        }
    }
    error_setg_errno(errp, ENOSPC, "fake KVM: no MSI route left");
    return -ENOSPC;
}

static void msix_testdev_fake_route_release(void *opaque, int virq)
{
    MsixTestdevState *s = MSIX_TESTDEV(opaque);

    trace_msix_testdev_fake_route(s->fake_route[virq], virq, false);
    s->fake_route[virq] = -1;
}

static int msix_testdev_fake_routes_commit(void *opaque, Error **errp)
{
    return 0;
}

static void msix_testdev_fake_inject(void *opaque)
{
    MsixTestdevFakeIrqfd *irqfd = opaque;
    MsixTestdevState *s = irqfd->s;

    if (event_notifier_test_and_clear(irqfd->n)) {
        msix_notify(PCI_DEVICE(s), s->fake_route[irqfd->virq]);
    }
}

static int msix_testdev_fake_irqfd_attach(void *opaque, EventNotifier *n,
                                          int virq, Error **errp)
{
    MsixTestdevState *s = MSIX_TESTDEV(opaque);
    MsixTestdevFakeIrqfd *irqfd = &s->fake_irqfd[virq];

    irqfd->s = s;
    irqfd->n = n;
    irqfd->virq = virq;
    qemu_set_fd_handler(event_notifier_get_fd(n), msix_testdev_fake_inject,
                        NULL, irqfd);
    /* KVM_IRQFD injects at assign what the eventfd holds */
    msix_testdev_fake_inject(irqfd);
    return 0;
}

static int msix_testdev_fake_irqfd_detach(void *opaque, EventNotifier *n,
                                          int virq, Error **errp)
{
    qemu_set_fd_handler(event_notifier_get_fd(n), NULL, NULL, NULL);
    return 0;
}

static const MSIXEventfdOps *msix_testdev_ops_of(MsixTestdevState *s)
{
    MSIXEventfdOps *ops = &s->fake_kvm_ops;

    if (!s->fake_kvm_routes) {
        return msix_eventfds_pci_ops(true);
    }
    s->fake_route = g_new(int32_t, s->fake_kvm_routes);
    memset(s->fake_route, -1, s->fake_kvm_routes * sizeof(int32_t));
    s->fake_irqfd = g_new0(MsixTestdevFakeIrqfd, s->fake_kvm_routes);
    /* The PCI core's delivery and pending bits, with a fake irqchip */
    *ops = *msix_eventfds_pci_ops(false);
    ops->route_set = msix_testdev_fake_route_set;
    ops->route_release = msix_testdev_fake_route_release;
    ops->routes_commit = msix_testdev_fake_routes_commit;
    ops->irqfd_attach = msix_testdev_fake_irqfd_attach;
    ops->irqfd_detach = msix_testdev_fake_irqfd_detach;
    return ops;
}

static void msix_testdev_fake_free(MsixTestdevState *s)
{
    g_clear_pointer(&s->fake_route, g_free);
    g_clear_pointer(&s->fake_irqfd, g_free);
}

static MsixMode msix_testdev_query_mode(PCIDevice *pdev)
{
    if (msix_enabled(pdev)) {
        return MSIX_MODE_MSIX;
    }
    if (msi_enabled(pdev)) {
        return MSIX_MODE_MSI;
    }
    return pci_get_byte(pdev->config + PCI_INTERRUPT_PIN) ? MSIX_MODE_INTX
                                                          : MSIX_MODE_NONE;
}

/* The eventfds serve MSI-X only; MSI goes through msi_notify() directly */
static const MSIXEventfdsUser msix_testdev_query_user = {
    .mode = msix_testdev_query_mode,
};

/* Every vector starts masked: its signals go to the poller */
static void msix_testdev_mask_all(MsixTestdevState *s)
{
    uint32_t i;

    for (i = 0; i < s->vectors; i++) {
        msix_eventfds_release(s->efds, i);
        msix_eventfds_mask(s->efds, i);
    }
}

static bool msix_testdev_init_eventfd(MsixTestdevState *s, Error **errp)
{
    PCIDevice *pdev = PCI_DEVICE(s);

    s->efds = msix_eventfds_new(TYPE_MSIX_TESTDEV, s->vectors,
                                msix_testdev_ops_of(s), pdev, errp);
    if (!s->efds) {
        msix_testdev_fake_free(s);
        return false;
    }
    msix_eventfds_register(s->efds, pdev, &msix_testdev_query_user);
    msix_testdev_mask_all(s);
    msix_set_vector_notifiers(pdev, msix_testdev_vector_use,
                              msix_testdev_vector_release,
                              msix_testdev_vector_poll);
    return true;
}

static void msix_testdev_fini_eventfd(MsixTestdevState *s)
{
    if (s->efds) {
        msix_unset_vector_notifiers(PCI_DEVICE(s));
        msix_eventfds_unregister(s->efds);
        g_clear_pointer(&s->efds, msix_eventfds_free);
        msix_testdev_fake_free(s);
    }
}

static void msix_testdev_realize(PCIDevice *pdev, Error **errp)
{
    MsixTestdevState *s = MSIX_TESTDEV(pdev);
    uint32_t i;

    if (s->vectors < MSIX_TESTDEV_MIN_VECTORS ||
        s->vectors > MSIX_TESTDEV_MAX_VECTORS) {
        error_setg(errp, "vectors must be between %d and %d, not %" PRIu32,
                   MSIX_TESTDEV_MIN_VECTORS, MSIX_TESTDEV_MAX_VECTORS,
                   s->vectors);
        return;
    }
    if (!msix_testdev_parse_layout(s, errp)) {
        return;
    }
    if (s->fake_kvm_routes && !s->eventfd) {
        error_setg(errp, "x-fake-kvm-routes needs eventfd=on");
        return;
    }

    pci_config_set_interrupt_pin(pdev->config, s->intx ? 1 : 0);

    if (pcie_endpoint_cap_init(pdev, MSIX_TESTDEV_PCIE_CAP) < 0) {
        error_setg(errp, "cannot add the PCI Express capability");
        return;
    }
    if (s->msi && msi_init(pdev, MSIX_TESTDEV_MSI_CAP, 1, true, true,
                           errp) < 0) {
        goto fail_pcie;
    }
    if (!msix_testdev_init_msix(s, errp)) {
        goto fail_msi;
    }
    for (i = 0; i < s->vectors; i++) {
        msix_vector_use(pdev, i);
    }

    if (s->sink) {
        memory_region_init_io(&s->sink_mr, OBJECT(s), &msix_testdev_sink_ops,
                              s, "msix-testdev-sink", MSIX_TESTDEV_SINK_SIZE);
        /* MSI-X messages from this very device land here */
        s->sink_mr.disable_reentrancy_guard = true;
        pci_register_bar(pdev, MSIX_TESTDEV_SINK_BAR,
                         PCI_BASE_ADDRESS_SPACE_MEMORY, &s->sink_mr);
    }

    if (s->eventfd && !msix_testdev_init_eventfd(s, errp)) {
        goto fail_msix;
    }

    s->vec_count = g_new0(uint32_t, s->vectors);
    s->auto_timer = timer_new_ns(QEMU_CLOCK_VIRTUAL, msix_testdev_auto_tick,
                                 s);
    msix_testdev_sink_clear(s);
    trace_msix_testdev_realize(s->vectors, msix_testdev_layouts[s->layout],
                               s->eventfd);
    return;

fail_msix:
    msix_unuse_all_vectors(pdev);
    msix_uninit(pdev, s->table_mr, s->pba_mr);
fail_msi:
    msi_uninit(pdev);
fail_pcie:
    pcie_cap_exit(pdev);
}

static void msix_testdev_exit(PCIDevice *pdev)
{
    MsixTestdevState *s = MSIX_TESTDEV(pdev);

    timer_free(s->auto_timer);
    msix_testdev_fini_eventfd(s);
    msix_unuse_all_vectors(pdev);
    msix_uninit(pdev, s->table_mr, s->pba_mr);
    msi_uninit(pdev);
    pcie_cap_exit(pdev);
    g_clear_pointer(&s->vec_count, g_free);
}

static void msix_testdev_reset(DeviceState *dev)
{
    MsixTestdevState *s = MSIX_TESTDEV(dev);

    msix_testdev_auto_stop(s);
    s->auto_first = 0;
    s->auto_count = 0;
    s->auto_period = 0;
    s->auto_ticks = 0;
    s->range_first = 0;
    s->range_count = 0;
    s->vec_sel = 0;
    s->intx_level = 0;
    msix_testdev_reset_counters(s);
    msix_testdev_sink_clear(s);
    if (s->efds) {
        msix_testdev_mask_all(s);
    }
}

/* Eventfd mode: what the poller latched belongs in the saved PBA */
static int msix_testdev_pre_save(void *opaque)
{
    MsixTestdevState *s = opaque;

    if (s->efds) {
        msix_eventfds_poll(s->efds, 0, s->vectors);
    }
    return 0;
}

static const VMStateDescription vmstate_msix_testdev = {
    .name = TYPE_MSIX_TESTDEV,
    .version_id = 1,
    .minimum_version_id = 1,
    .pre_save = msix_testdev_pre_save,
    .fields = (const VMStateField[]) {
        VMSTATE_PCI_DEVICE(parent_obj, MsixTestdevState),
        VMSTATE_MSIX(parent_obj, MsixTestdevState),
        VMSTATE_UINT32(range_first, MsixTestdevState),
        VMSTATE_UINT32(range_count, MsixTestdevState),
        VMSTATE_UINT32(raise_total, MsixTestdevState),
        VMSTATE_UINT32(raise_disabled, MsixTestdevState),
        VMSTATE_UINT32(raise_masked, MsixTestdevState),
        VMSTATE_UINT32(bad_input, MsixTestdevState),
        VMSTATE_UINT32(vec_sel, MsixTestdevState),
        VMSTATE_VARRAY_UINT32(vec_count, MsixTestdevState, vectors, 0,
                              vmstate_info_uint32, uint32_t),
        VMSTATE_UINT32(intx_level, MsixTestdevState),
        VMSTATE_UINT32(auto_first, MsixTestdevState),
        VMSTATE_UINT32(auto_count, MsixTestdevState),
        VMSTATE_UINT32(auto_period, MsixTestdevState),
        VMSTATE_UINT32(auto_ticks, MsixTestdevState),
        VMSTATE_BOOL(auto_running, MsixTestdevState),
        VMSTATE_INT64(auto_next, MsixTestdevState),
        VMSTATE_TIMER_PTR(auto_timer, MsixTestdevState),
        VMSTATE_UINT32_ARRAY(sink_slot, MsixTestdevState,
                             MSIX_TESTDEV_SINK_SLOTS),
        VMSTATE_UINT32(sink_total, MsixTestdevState),
        VMSTATE_UINT32(sink_last_data, MsixTestdevState),
        VMSTATE_UINT32(sink_last_rid, MsixTestdevState),
        VMSTATE_UINT32(sink_last_slot, MsixTestdevState),
        VMSTATE_END_OF_LIST()
    },
};

static const Property msix_testdev_properties[] = {
    DEFINE_PROP_UINT32("vectors", MsixTestdevState, vectors, 16),
    DEFINE_PROP_STRING("layout", MsixTestdevState, layout_name),
    DEFINE_PROP_BOOL("msi", MsixTestdevState, msi, false),
    DEFINE_PROP_BOOL("intx", MsixTestdevState, intx, true),
    DEFINE_PROP_BOOL("sink", MsixTestdevState, sink, true),
    DEFINE_PROP_BOOL("eventfd", MsixTestdevState, eventfd, false),
    DEFINE_PROP_UINT32("x-fake-kvm-routes", MsixTestdevState,
                       fake_kvm_routes, 0),
};

static void msix_testdev_class_init(ObjectClass *klass, void *data)
{
    DeviceClass *dc = DEVICE_CLASS(klass);
    PCIDeviceClass *k = PCI_DEVICE_CLASS(klass);

    k->realize = msix_testdev_realize;
    k->exit = msix_testdev_exit;
    k->vendor_id = MSIX_TESTDEV_VENDOR_ID;
    k->device_id = MSIX_TESTDEV_DEVICE_ID;
    k->revision = 0x01;
    k->class_id = PCI_CLASS_OTHERS;
    dc->desc = "MSI-X test device";
    dc->vmsd = &vmstate_msix_testdev;
    device_class_set_legacy_reset(dc, msix_testdev_reset);
    device_class_set_props(dc, msix_testdev_properties);
    set_bit(DEVICE_CATEGORY_MISC, dc->categories);
}

static const TypeInfo msix_testdev_info = {
    .name = TYPE_MSIX_TESTDEV,
    .parent = TYPE_PCI_DEVICE,
    .instance_size = sizeof(MsixTestdevState),
    .class_init = msix_testdev_class_init,
    .interfaces = (InterfaceInfo[]) {
        { INTERFACE_PCIE_DEVICE },
        { }
    },
};

static void msix_testdev_register_types(void)
{
    type_register_static(&msix_testdev_info);
}

type_init(msix_testdev_register_types)
