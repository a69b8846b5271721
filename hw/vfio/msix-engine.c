/*
 * vfio-pci MSI-X state machine
 *
 * Copyright (c) 2026 The qemu-vmsix authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Everything here runs under the BQL.  Once the host holds a vector's
 * trigger eventfd, the engine never changes it while MSI-X stays
 * enabled: masking, unmasking and the function mask only move the
 * eventfd between KVM and the poller (hw/pci/msix-eventfd.c), which the
 * host does not see.
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/bitmap.h"
#include "qemu/error-report.h"
#include "msix-engine.h"
#include "trace.h"

struct VFIOMSIXEngine {
    char *name;
    unsigned nr;
    unsigned active;            /* vectors [0, active) can be enabled */
    MSIXEventfds *efds;
    VFIOMSIXAlloc alloc;
    const VFIOMSIXHostOps *ops;
    void *opaque;

    /* virtual state */
    bool enabled;
    unsigned long *unmasked;
    MSIMessage *msg;

    /* physical state, besides the eventfds' */
    bool host_enabled;
    bool host_failed;           /* reported; not retried until disabled */
    unsigned long *host_vec;    /* holds our trigger eventfd */
    unsigned long *reported;    /* host failure reported for the vector */

    unsigned batch;
    bool all_dirty;
    unsigned long *dirty;
    VFIOMSIXStats stats;
};

static int32_t trigger_fd(VFIOMSIXEngine *e, unsigned vector)
{
    return event_notifier_get_fd(msix_eventfds_notifier(e->efds, vector));
}

static bool set_triggers(VFIOMSIXEngine *e, unsigned start, unsigned count,
                         const int32_t *fds, Error **errp)
{
    e->stats.set_irqs++;
    trace_vfio_msix_engine_set_triggers(e->name, start, count);
    if (e->ops->set_triggers(e->opaque, start, count, fds, errp) < 0) {
        e->stats.host_failures++;
        return false;
    }
    return true;
}

static void report_host_failure(VFIOMSIXEngine *e, const char *what,
                                Error *err)
{
    error_report("%s: %s: %s", e->name, what, error_get_pretty(err));
    error_free(err);
}

static void host_enable(VFIOMSIXEngine *e)
{
    g_autofree int32_t *fds = NULL;
    Error *err = NULL;
    unsigned i;

    if (e->alloc == VFIO_MSIX_ALLOC_TABLE) {
        fds = g_new(int32_t, e->active);
        for (i = 0; i < e->active; i++) {
            fds[i] = trigger_fd(e, i);
        }
        if (set_triggers(e, 0, e->active, fds, &err)) {
            bitmap_fill(e->host_vec, e->active);
        }
    } else {
        /*
         * MSI-X on with no vector, like the guest's view: some devices
         * talk to their PF or firmware only once MSI-X is on.
         */
        int32_t none = -1;

        set_triggers(e, 0, 1, &none, &err);
    }
    if (err) {
        e->host_failed = true;
        report_host_failure(e, "cannot enable MSI-X in the host", err);
        return;
    }
    e->host_enabled = true;
    trace_vfio_msix_engine_host(e->name, true);
}

static void host_disable(VFIOMSIXEngine *e)
{
    if (e->host_enabled) {
        e->stats.set_irqs++;
        e->ops->disable(e->opaque);
        e->host_enabled = false;
        trace_vfio_msix_engine_host(e->name, false);
    }
    bitmap_zero(e->host_vec, e->nr);
    bitmap_zero(e->reported, e->nr);
    e->host_failed = false;
}

static void reconcile_host(VFIOMSIXEngine *e)
{
    if (e->enabled && !e->host_enabled && !e->host_failed) {
        host_enable(e);
    } else if (!e->enabled) {
        host_disable(e);
    }
}

/* Dynamic allocation: the host gets @vector's trigger at first unmask. */
static void host_alloc_vector(VFIOMSIXEngine *e, unsigned vector)
{
    Error *err = NULL;
    int32_t fd;

    if (!e->host_enabled || test_bit(vector, e->host_vec)) {
        return;
    }
    fd = trigger_fd(e, vector);
    if (set_triggers(e, vector, 1, &fd, &err)) {
        set_bit(vector, e->host_vec);
        trace_vfio_msix_engine_host_vector(e->name, vector);
        return;
    }
    if (!test_and_set_bit(vector, e->reported)) {
        g_autofree char *what = g_strdup_printf(
            "cannot allocate host MSI-X vector %u", vector);

        report_host_failure(e, what, err);
    } else {
        error_free(err);
    }
}

static void reconcile_vector(VFIOMSIXEngine *e, unsigned vector)
{
    if (!e->enabled) {
        msix_eventfds_release(e->efds, vector);
    } else if (test_bit(vector, e->unmasked)) {
        host_alloc_vector(e, vector);
        msix_eventfds_unmask(e->efds, vector, e->msg[vector]);
    } else {
        msix_eventfds_mask(e->efds, vector);
    }
}

static void reconcile_dirty(VFIOMSIXEngine *e)
{
    unsigned i;

    msix_eventfds_begin(e->efds);
    if (e->all_dirty) {
        /* Masks go first, so the host's view only shrinks, then grows */
        e->all_dirty = false;
        bitmap_zero(e->dirty, e->nr);
        if (!e->enabled) {
            for (i = 0; i < e->nr; i++) {
                reconcile_vector(e, i);
            }
        }
        reconcile_host(e);
        if (e->enabled) {
            /* The others stay unused from the last disable */
            for (i = 0; i < e->active; i++) {
                reconcile_vector(e, i);
            }
        }
    } else {
        for (i = find_first_bit(e->dirty, e->nr); i < e->nr;
             i = find_next_bit(e->dirty, e->nr, i + 1)) {
            clear_bit(i, e->dirty);
            reconcile_vector(e, i);
        }
    }
    msix_eventfds_commit(e->efds);
}

void vfio_msix_engine_begin(VFIOMSIXEngine *e)
{
    e->batch++;
}

void vfio_msix_engine_commit(VFIOMSIXEngine *e)
{
    assert(e->batch > 0);
    if (--e->batch == 0) {
        reconcile_dirty(e);
    }
}

void vfio_msix_engine_reconcile(VFIOMSIXEngine *e)
{
    e->all_dirty = true;
    vfio_msix_engine_begin(e);
    vfio_msix_engine_commit(e);
}

void vfio_msix_engine_set_vectors(VFIOMSIXEngine *e, unsigned nr,
                                  VFIOMSIXAlloc alloc)
{
    assert(!e->enabled && nr > 0 && nr <= e->nr);
    e->active = nr;
    e->alloc = alloc;
    trace_vfio_msix_engine_set_vectors(e->name, nr,
                                       alloc == VFIO_MSIX_ALLOC_TABLE);
}

void vfio_msix_engine_set_enabled(VFIOMSIXEngine *e, bool enabled)
{
    trace_vfio_msix_engine_enable(e->name, enabled);
    if (!enabled) {
        bitmap_zero(e->unmasked, e->nr);
    }
    e->enabled = enabled;
    vfio_msix_engine_reconcile(e);
}

void vfio_msix_engine_set_vector(VFIOMSIXEngine *e, unsigned vector,
                                 bool unmasked, MSIMessage msg)
{
    assert(vector < e->active);
    trace_vfio_msix_engine_vector(e->name, vector, unmasked, msg.address,
                                  msg.data);
    if (unmasked) {
        set_bit(vector, e->unmasked);
        e->msg[vector] = msg;
    } else {
        clear_bit(vector, e->unmasked);
    }
    set_bit(vector, e->dirty);
    vfio_msix_engine_begin(e);
    vfio_msix_engine_commit(e);
}

MSIXEventfds *vfio_msix_engine_eventfds(VFIOMSIXEngine *e)
{
    return e->efds;
}

unsigned vfio_msix_engine_vectors(VFIOMSIXEngine *e)
{
    return e->active;
}

bool vfio_msix_engine_host_enabled(VFIOMSIXEngine *e)
{
    return e->host_enabled;
}

bool vfio_msix_engine_host_vector(VFIOMSIXEngine *e, unsigned vector)
{
    return vector < e->nr && test_bit(vector, e->host_vec);
}

void vfio_msix_engine_get_stats(VFIOMSIXEngine *e, VFIOMSIXStats *stats)
{
    *stats = e->stats;
}

VFIOMSIXEngine *vfio_msix_engine_new(const char *name, MSIXEventfds *efds,
                                     VFIOMSIXAlloc alloc,
                                     const VFIOMSIXHostOps *ops,
                                     void *opaque)
{
    VFIOMSIXEngine *e = g_new0(VFIOMSIXEngine, 1);

    e->name = g_strdup(name);
    e->efds = efds;
    e->nr = msix_eventfds_nr(efds);
    e->active = e->nr;
    e->alloc = alloc;
    e->ops = ops;
    e->opaque = opaque;
    e->unmasked = bitmap_new(e->nr);
    e->msg = g_new0(MSIMessage, e->nr);
    e->host_vec = bitmap_new(e->nr);
    e->reported = bitmap_new(e->nr);
    e->dirty = bitmap_new(e->nr);
    return e;
}

void vfio_msix_engine_free(VFIOMSIXEngine *e)
{
    if (!e) {
        return;
    }
    if (e->enabled) {
        vfio_msix_engine_set_enabled(e, false);
    }
    msix_eventfds_free(e->efds);
    g_free(e->dirty);
    g_free(e->reported);
    g_free(e->host_vec);
    g_free(e->msg);
    g_free(e->unmasked);
    g_free(e->name);
    g_free(e);
}
