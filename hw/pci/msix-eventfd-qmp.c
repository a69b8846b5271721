/*
 * Eventfd-backed MSI-X vectors: x-query-msix, "info msix" and events
 *
 * Copyright (c) 2026 The qemu-vmsix authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Devices register their MSIXEventfds here (msix-eventfd-qmp.h).  The
 * query reads the eventfd layer's state and counters and the MSI-X or
 * MSI capability the vectors serve.  Everything runs under the BQL, which
 * also keeps a device from being unplugged while it is queried.
 *
 * The events are rate-limited per device by the monitor
 * (monitor_qapi_event_conf, keyed on the QOM path): the counters of the
 * query keep what the limit merged.
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-msix.h"
#include "qapi/qapi-events-msix.h"
#include "qobject/qdict.h"
#include "qemu/queue.h"
#include "monitor/hmp.h"
#include "monitor/monitor.h"
#include "hw/pci/msi.h"
#include "hw/pci/msix.h"
#include "hw/pci/pci_device.h"
#include "hw/pci/msix-eventfd-qmp.h"
#include "hw/sysbus.h"
#include "system/kvm.h"

typedef struct MSIXEventfdsEntry {
    MSIXEventfds *efds;
    PCIDevice *dev;
    const MSIXEventfdsUser *user;
    QTAILQ_ENTRY(MSIXEventfdsEntry) next;
} MSIXEventfdsEntry;

static QTAILQ_HEAD(, MSIXEventfdsEntry) msix_eventfds_entries =
    QTAILQ_HEAD_INITIALIZER(msix_eventfds_entries);

/* Events */

void msix_eventfds_fallback_event(PCIDevice *pdev, unsigned vector,
                                  const char *reason)
{
    DeviceState *dev = DEVICE(pdev);
    g_autofree char *path = object_get_canonical_path(OBJECT(dev));

    qapi_event_send_msix_vector_fallback(dev->id, path, vector, reason);
}

void msix_eventfds_restored_event(PCIDevice *pdev, unsigned vector)
{
    DeviceState *dev = DEVICE(pdev);
    g_autofree char *path = object_get_canonical_path(OBJECT(dev));

    qapi_event_send_msix_vector_restored(dev->id, path, vector);
}

static void emit_fallback(void *opaque, unsigned vector, const char *reason)
{
    MSIXEventfdsEntry *e = opaque;

    msix_eventfds_fallback_event(e->dev, vector, reason);
}

static void emit_restored(void *opaque, unsigned vector)
{
    MSIXEventfdsEntry *e = opaque;

    msix_eventfds_restored_event(e->dev, vector);
}

static const MSIXEventfdListener msix_eventfds_qmp_listener = {
    .fallback = emit_fallback,
    .restored = emit_restored,
};

void msix_eventfds_host_refused(PCIDevice *pdev, unsigned first,
                                unsigned count, const char *reason)
{
    DeviceState *dev = DEVICE(pdev);
    g_autofree char *path = object_get_canonical_path(OBJECT(dev));

    qapi_event_send_msix_host_refused(dev->id, path, first, count, reason);
}

/* Registry */

void msix_eventfds_register(MSIXEventfds *s, PCIDevice *dev,
                            const MSIXEventfdsUser *user)
{
    MSIXEventfdsEntry *e = g_new0(MSIXEventfdsEntry, 1);

    e->efds = s;
    e->dev = dev;
    e->user = user;
    QTAILQ_INSERT_TAIL(&msix_eventfds_entries, e, next);
    msix_eventfds_set_listener(s, &msix_eventfds_qmp_listener, e);
}

void msix_eventfds_unregister(MSIXEventfds *s)
{
    MSIXEventfdsEntry *e;

    QTAILQ_FOREACH(e, &msix_eventfds_entries, next) {
        if (e->efds == s) {
            msix_eventfds_set_listener(s, NULL, NULL);
            QTAILQ_REMOVE(&msix_eventfds_entries, e, next);
            g_free(e);
            return;
        }
    }
}

void msix_eventfds_register_device(PCIDevice *dev,
                                   const MSIXEventfdsUser *user)
{
    MSIXEventfdsEntry *e = g_new0(MSIXEventfdsEntry, 1);

    assert(user->vectors && user->vector_info && user->totals);
    e->dev = dev;
    e->user = user;
    QTAILQ_INSERT_TAIL(&msix_eventfds_entries, e, next);
}

void msix_eventfds_unregister_device(PCIDevice *dev)
{
    MSIXEventfdsEntry *e;

    QTAILQ_FOREACH(e, &msix_eventfds_entries, next) {
        if (e->dev == dev && !e->efds) {
            QTAILQ_REMOVE(&msix_eventfds_entries, e, next);
            g_free(e);
            return;
        }
    }
}

/* The query */

static unsigned entry_vectors(MSIXEventfdsEntry *e)
{
    return e->efds ? msix_eventfds_nr(e->efds) : e->user->vectors(e->dev);
}

/* The capability whose table, messages and pending bits the vectors use */
typedef enum MSIXEventfdsCap {
    CAP_NONE,
    CAP_MSIX,
    CAP_MSI,
} MSIXEventfdsCap;

static MSIXEventfdsCap served_cap(MSIXEventfdsEntry *e, MsixMode mode)
{
    if (mode == MSIX_MODE_MSI) {
        return e->user->serves_msi ? CAP_MSI : CAP_NONE;
    }
    return msix_present(e->dev) ? CAP_MSIX : CAP_NONE;
}

static void fill_counters(MsixVectorCounters *c, const MSIXEventfdStats *st)
{
    c->latched = st->latched;
    c->replayed = st->replayed;
    c->delivered = st->userspace;
    c->coalesced = st->coalesced;
    c->dropped = st->dropped;
    c->failures = st->failures;
    c->fallbacks = st->fallbacks;
    c->restores = st->restores;
    c->irqfd_attaches = st->irqfd_attach;
    c->irqfd_detaches = st->irqfd_detach;
    c->pending = st->pending;
    c->resent = st->resent;
}

static bool msix_vector_bit_masked(PCIDevice *dev, unsigned vector)
{
    uint8_t *ctrl = dev->msix_table + vector * PCI_MSIX_ENTRY_SIZE +
                    PCI_MSIX_ENTRY_VECTOR_CTRL;

    return pci_get_long(ctrl) & PCI_MSIX_ENTRY_CTRL_MASKBIT;
}

static bool msix_vector_pending(PCIDevice *dev, unsigned vector)
{
    return dev->msix_pba[vector / 8] & (1 << (vector % 8));
}

/* MSI pending bits exist only with per-vector masking */
static bool msi_vector_pending(PCIDevice *dev, unsigned vector)
{
    uint16_t flags = pci_get_word(dev->config + dev->msi_cap + PCI_MSI_FLAGS);
    unsigned off = flags & PCI_MSI_FLAGS_64BIT ? PCI_MSI_PENDING_64
                                               : PCI_MSI_PENDING_32;

    if (!(flags & PCI_MSI_FLAGS_MASKBIT)) {
        return false;
    }
    return pci_get_long(dev->config + dev->msi_cap + off) & (1U << vector);
}

/* What the guest sees of @vector in @cap, if @cap has such a vector */
static void fill_guest_view(MsixVectorInfo *vi, PCIDevice *dev,
                            MSIXEventfdsCap cap, unsigned vector)
{
    MSIMessage msg;

    switch (cap) {
    case CAP_MSIX:
        if (vector >= dev->msix_entries_nr) {
            return;
        }
        vi->masked = msix_vector_bit_masked(dev, vector);
        vi->pending = msix_vector_pending(dev, vector);
        msg = msix_get_message(dev, vector);
        break;
    case CAP_MSI:
        if (vector >= msi_nr_vectors_allocated(dev)) {
            return;
        }
        vi->masked = msi_is_masked(dev, vector);
        vi->pending = msi_vector_pending(dev, vector);
        msg = msi_get_message(dev, vector);
        break;
    default:
        return;
    }
    vi->has_masked = vi->has_pending = true;
    vi->has_address = vi->has_data = true;
    vi->address = msg.address;
    vi->data = msg.data;
}

static MsixVectorState vector_state(MSIXEventfdState state)
{
    switch (state) {
    case MSIX_EVENTFD_MASKED:
        return MSIX_VECTOR_STATE_MASKED;
    case MSIX_EVENTFD_BYPASS:
        return MSIX_VECTOR_STATE_BYPASS;
    case MSIX_EVENTFD_USERSPACE:
        return MSIX_VECTOR_STATE_USERSPACE;
    default:
        return MSIX_VECTOR_STATE_UNUSED;
    }
}

/* The eventfd layer's view of @vector */
static void query_eventfd_vector(MSIXEventfdsEntry *e, unsigned vector,
                                 MsixVectorInfo *vi)
{
    MSIXEventfdStats st;

    vi->state = vector_state(msix_eventfds_state(e->efds, vector));
    vi->virq = msix_eventfds_virq(e->efds, vector);
    vi->has_virq = vi->virq >= 0;
    /* Latched, not yet merged: the guest's read would merge it */
    vi->pending |= vi->has_pending &&
                   msix_eventfds_latched(e->efds, vector);
    msix_eventfds_get_stats(e->efds, vector, &st);
    vi->counters = g_new0(MsixVectorCounters, 1);
    fill_counters(vi->counters, &st);
}

static MsixVectorInfo *query_vector(MSIXEventfdsEntry *e,
                                    MSIXEventfdsCap cap, unsigned vector)
{
    MsixVectorInfo *vi = g_new0(MsixVectorInfo, 1);

    vi->vector = vector;
    fill_guest_view(vi, e->dev, cap, vector);
    if (e->efds) {
        query_eventfd_vector(e, vector, vi);
    } else {
        e->user->vector_info(e->dev, vector, vi);
    }
    if (vi->has_virq && kvm_msi_devid_required()) {
        vi->has_device_id = true;
        vi->device_id = pci_requester_id(e->dev);
    }
    return vi;
}

static MsixMode query_mode(MSIXEventfdsEntry *e)
{
    return e->user->mode(e->dev);
}

static MsixDeviceInfo *query_device(MSIXEventfdsEntry *e, unsigned first,
                                    unsigned end)
{
    MsixDeviceInfo *info = g_new0(MsixDeviceInfo, 1);
    DeviceState *dev = DEVICE(e->dev);
    MsixMode mode = query_mode(e);
    MSIXEventfdsCap cap = served_cap(e, mode);
    MsixVectorInfoList **tail = &info->vector_list;
    MSIXEventfdStats st;
    unsigned i;

    info->id = g_strdup(dev->id);
    info->qom_path = object_get_canonical_path(OBJECT(dev));
    info->driver = g_strdup(object_get_typename(OBJECT(dev)));
    info->mode = mode;
    info->engine = e->user->host_info != NULL;
    info->function_masked = msix_present(e->dev) &&
        (pci_get_word(e->dev->config + e->dev->msix_cap + PCI_MSIX_FLAGS) &
         PCI_MSIX_FLAGS_MASKALL);
    info->vectors = entry_vectors(e);
    if (e->user->host_info) {
        info->host = g_new0(MsixHostInfo, 1);
        e->user->host_info(e->dev, info->host);
    }
    info->totals = g_new0(MsixVectorCounters, 1);
    if (e->efds) {
        if (end > first) {
            /* As a guest read of the pending bits would see them */
            msix_eventfds_poll(e->efds, first, end - first);
        }
        msix_eventfds_get_stats(e->efds, -1, &st);
        info->route_commits = st.route_commits;
        fill_counters(info->totals, &st);
    } else {
        e->user->totals(e->dev, info->totals);
    }
    for (i = first; i < end; i++) {
        QAPI_LIST_APPEND(tail, query_vector(e, cap, i));
    }
    return info;
}

static MSIXEventfdsEntry *find_entry(DeviceState *dev)
{
    MSIXEventfdsEntry *e;

    QTAILQ_FOREACH(e, &msix_eventfds_entries, next) {
        if (DEVICE(e->dev) == dev) {
            return e;
        }
    }
    return NULL;
}

/* @name is an id or a QOM path, as device_del takes them */
static DeviceState *find_device(const char *name, Error **errp)
{
    Object *obj = object_resolve_path_type(name, TYPE_DEVICE, NULL);
    DeviceState *dev;

    dev = obj ? DEVICE(obj) : qdev_find_recursive(sysbus_get_default(), name);
    if (!dev) {
        error_set(errp, ERROR_CLASS_DEVICE_NOT_FOUND,
                  "Device '%s' not found", name);
    }
    return dev;
}

static bool check_range(MSIXEventfdsEntry *e, const char *name,
                        bool has_first, uint32_t first, bool has_count,
                        uint32_t count, Error **errp)
{
    unsigned nr = entry_vectors(e);

    if (!nr) {
        error_setg(errp, "Device '%s' has no MSI-X vectors", name);
        return false;
    }
    if (has_first && first >= nr) {
        error_setg(errp, "Device '%s' has vectors 0 to %u; 'first' is %"
                   PRIu32, name, nr - 1, first);
        return false;
    }
    if (has_count && (uint64_t)first + count > nr) {
        error_setg(errp, "Device '%s' has vectors 0 to %u; 'first' + "
                   "'count' is %" PRIu64, name, nr - 1,
                   (uint64_t)first + count);
        return false;
    }
    return true;
}

static MsixDeviceInfo *query_range(MSIXEventfdsEntry *e, uint32_t first,
                                   bool has_count, uint32_t count)
{
    uint64_t end = entry_vectors(e);

    if (has_count) {
        end = MIN(end, (uint64_t)first + count);
    }
    return query_device(e, first, MAX(end, first));
}

MsixDeviceInfoList *qmp_x_query_msix(const char *device,
                                     bool has_first, uint32_t first,
                                     bool has_count, uint32_t count,
                                     Error **errp)
{
    MsixDeviceInfoList *list = NULL, **tail = &list;
    MSIXEventfdsEntry *e;
    DeviceState *dev;

    if (!has_first) {
        first = 0;
    }
    if (has_count && !count) {
        error_setg(errp, "'count' must be at least 1");
        return NULL;
    }
    if (!device) {
        QTAILQ_FOREACH(e, &msix_eventfds_entries, next) {
            QAPI_LIST_APPEND(tail, query_range(e, first, has_count, count));
        }
        return list;
    }
    dev = find_device(device, errp);
    if (!dev) {
        return NULL;
    }
    e = find_entry(dev);
    if (!e) {
        error_setg(errp, "Device '%s' has no eventfd-backed MSI or MSI-X "
                   "vectors", device);
        error_append_hint(errp, "vfio-pci has them with x-msix-poller=on, "
                          "msix-testdev with eventfd=on\n");
        return NULL;
    }
    if (!check_range(e, device, has_first, first, has_count, count, errp)) {
        return NULL;
    }
    QAPI_LIST_APPEND(tail, query_range(e, first, has_count, count));
    return list;
}

/* HMP */

static char *hmp_counters(const MsixVectorCounters *c)
{
    return g_strdup_printf(
             "latched %" PRIu64 " replayed %" PRIu64 " delivered %" PRIu64
             " coalesced %" PRIu64 " dropped %" PRIu64 " failures %" PRIu64
             " fallbacks %" PRIu64 " restores %" PRIu64
             " irqfd %" PRIu64 "/%" PRIu64 " pending %" PRIu64,
             c->latched, c->replayed, c->delivered, c->coalesced,
             c->dropped, c->failures, c->fallbacks, c->restores,
             c->irqfd_attaches, c->irqfd_detaches, c->pending);
}

static void hmp_info_msix_vector(Monitor *mon, const MsixVectorInfo *v)
{
    g_autofree char *counters = v->counters ? hmp_counters(v->counters)
                                            : g_strdup("");

    monitor_printf(mon, "  %5" PRIu32 " %-9s %s %s", v->vector,
                   MsixVectorState_str(v->state),
                   v->has_masked && v->masked ? "M" : "-",
                   v->has_pending && v->pending ? "P" : "-");
    if (v->has_address) {
        monitor_printf(mon, " 0x%016" PRIx64 ":0x%08" PRIx32,
                       v->address, v->data);
    }
    if (v->has_virq) {
        monitor_printf(mon, " gsi %" PRId32, v->virq);
    }
    if (v->has_device_id) {
        monitor_printf(mon, " devid 0x%" PRIx32, v->device_id);
    }
    monitor_printf(mon, " %s\n", counters);
}

static void hmp_info_msix_device(Monitor *mon, const MsixDeviceInfo *d)
{
    g_autofree char *totals = hmp_counters(d->totals);
    const MsixVectorInfoList *v;

    monitor_printf(mon, "%s (%s, %s): %s%s, %" PRIu32 " vectors\n",
                   d->id ? d->id : d->qom_path, d->driver, d->qom_path,
                   MsixMode_str(d->mode),
                   d->function_masked ? " function-masked" : "",
                   d->vectors);
    if (d->host) {
        monitor_printf(mon, "  host: policy %s, %" PRIu32 " vectors, "
                       "SET_IRQS %" PRIu64 " (%" PRIu64 " refused), "
                       "%" PRIu64 " vectors refused\n",
                       MsixHostPolicy_str(d->host->policy),
                       d->host->vectors, d->host->set_irqs,
                       d->host->set_irqs_refused,
                       d->host->refused_vectors);
    }
    monitor_printf(mon, "  route commits %" PRIu64 ", total %s\n",
                   d->route_commits, totals);
    for (v = d->vector_list; v; v = v->next) {
        if (v->value->state != MSIX_VECTOR_STATE_UNUSED) {
            hmp_info_msix_vector(mon, v->value);
        }
    }
}

void hmp_info_msix(Monitor *mon, const QDict *qdict)
{
    const char *device = qdict_get_try_str(qdict, "device");
    g_autoptr(MsixDeviceInfoList) list = NULL;
    MsixDeviceInfoList *d;
    Error *err = NULL;

    list = qmp_x_query_msix(device, false, 0, false, 0, &err);
    if (hmp_handle_error(mon, err)) {
        return;
    }
    if (!list) {
        monitor_printf(mon, "No device has eventfd-backed MSI or MSI-X "
                       "vectors\n");
        return;
    }
    for (d = list; d; d = d->next) {
        hmp_info_msix_device(mon, d->value);
    }
}
