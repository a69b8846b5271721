/*
 * vfio-pci MSI-X state machine
 *
 * Copyright (c) 2026 The qemu-vmsix authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Everything here runs under the BQL.  Once the host holds a vector's
 * trigger eventfd, the engine never changes it while the mode stays on:
 * masking, unmasking and the function mask only move the eventfd between
 * KVM and the poller (hw/pci/msix-eventfd.c), which the host does not
 * see.
 *
 * Mode switches reach the host in the order the host needs them: a mode
 * is turned off at once, so that nothing else (INTx, the other mode) is
 * set up while it is still on, and turned on when the batch that turned
 * it on commits.
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
    MSIXEventfds *efds;
    const VFIOMSIXHostOps *ops;
    void *opaque;

    /* virtual state */
    VFIOMSIXMode mode;
    unsigned enabled;           /* vectors the mode was turned on with */
    unsigned active;            /* vectors [0, active) are enabled */
    VFIOMSIXAlloc alloc;
    unsigned long *unmasked;
    MSIMessage *msg;

    /* physical state, besides the eventfds' */
    VFIOMSIXMode host_mode;     /* whose IRQ index is on in the host */
    unsigned long *host_vec;    /* holds our trigger eventfd */
    unsigned long *refused;     /* refused at the host's last answer */
    unsigned long *stranded;    /* masked, host trigger gone: PBA trapped */
    bool host_reported;         /* a host refusal was reported */
    bool host_retried;          /* asked again since the enable */
    bool vector_refused;        /* a vector refused in this batch */

    unsigned batch;
    bool enable_pending;        /* host and vectors wait for the commit */
    VFIOMSIXStats stats;
};

static const char *mode_name(VFIOMSIXMode mode)
{
    return mode == VFIO_MSIX_MODE_MSI ? "MSI" :
           mode == VFIO_MSIX_MODE_MSIX ? "MSI-X" : "off";
}

static int32_t vfio_msix_engine_trigger_fd(VFIOMSIXEngine *e, unsigned vector)
{
    return event_notifier_get_fd(msix_eventfds_notifier(e->efds, vector));
}

/* Returns what VFIOMSIXHostOps.set_triggers returns, and counts it */
static int vfio_msix_engine_set_triggers(VFIOMSIXEngine *e, unsigned start,
                                         unsigned count, const int32_t *fds,
                                         Error **errp)
{
    int ret;

    e->stats.set_irqs++;
    trace_vfio_msix_engine_set_triggers(e->name, mode_name(e->mode), start,
                                        count);
    ret = e->ops->set_triggers(e->opaque, e->mode, start, count, fds, errp);
    /* A count is the kernel saying how many it has, not a refusal */
    if (ret < 0) {
        e->stats.host_failures++;
    }
    return ret;
}

/*
 * Once per device: a guest that enables again and again would otherwise
 * fill the log.  The counters keep counting.
 */
static void vfio_msix_engine_report(VFIOMSIXEngine *e, const char *what,
                                    Error *err)
{
    if (!e->host_reported) {
        e->host_reported = true;
        error_report("%s: %s: %s", e->name, what, error_get_pretty(err));
    }
    error_free(err);
}

/* Tell the host ops' owner of every refusal of [@first, @first + @count) */
static void vfio_msix_engine_notify_refused(VFIOMSIXEngine *e, unsigned first,
                                            unsigned count, const char *what,
                                            Error *err)
{
    g_autofree char *reason = g_strdup_printf("%s: %s", what,
                                              err ? error_get_pretty(err)
                                                  : "refused");

    trace_vfio_msix_engine_host_refused(e->name, first, count, reason);
    if (e->ops->refused) {
        e->ops->refused(e->opaque, first, count, reason);
    }
}

/* The host cannot give vectors [@first, active) */
static void vfio_msix_engine_refuse(VFIOMSIXEngine *e, unsigned first)
{
    Error *err = NULL;
    g_autofree char *what = g_strdup_printf(
        "the host has %u of the %u %s vectors the guest enabled", first,
        e->active, mode_name(e->mode));

    bitmap_set(e->refused, first, e->active - first);
    e->stats.host_refused += e->active - first;
    error_setg(&err, "vectors %u-%u stay silent", first, e->active - 1);
    vfio_msix_engine_notify_refused(e, first, e->active - first, what, err);
    vfio_msix_engine_report(e, what, err);
}

/*
 * Vectors [0, @want) at once.  A host with fewer vectors (the kernel then
 * says how many it has and enables nothing) gets as many as it has.
 */
static bool vfio_msix_engine_enable_table(VFIOMSIXEngine *e, unsigned want,
                                          Error **errp)
{
    g_autofree int32_t *fds = g_new(int32_t, want);
    unsigned i, count = want;
    int ret;

    for (i = 0; i < count; i++) {
        fds[i] = vfio_msix_engine_trigger_fd(e, i);
    }
    ret = vfio_msix_engine_set_triggers(e, 0, count, fds, errp);
    if (ret > 0 && ret < count) {
        trace_vfio_msix_engine_host_partial(e->name, ret, count);
        count = ret;
        ret = vfio_msix_engine_set_triggers(e, 0, count, fds, errp);
    }
    if (ret > 0) {
        e->stats.host_failures++;
        error_setg(errp, "the host offers %d vectors and then refuses them",
                   ret);
        return false;
    }
    if (ret < 0) {
        return false;
    }
    bitmap_set(e->host_vec, 0, count);
    if (count < e->active) {
        vfio_msix_engine_refuse(e, count);
    }
    return true;
}

/* The mode on in the host, with vectors [0, @want) for a table */
static void vfio_msix_engine_host_enable(VFIOMSIXEngine *e, unsigned want)
{
    Error *err = NULL;
    bool ok;

    if (e->alloc == VFIO_MSIX_ALLOC_TABLE) {
        ok = vfio_msix_engine_enable_table(e, want, &err);
    } else {
        /*
         * MSI-X on with no vector, like the guest's view: some devices
         * talk to their PF or firmware only once MSI-X is on.
         */
        int32_t none = -1;

        ok = !vfio_msix_engine_set_triggers(e, 0, 1, &none, &err);
        if (!ok && !err) {
            error_setg(&err, "the host has no vector");
        }
    }
    if (!ok) {
        g_autofree char *what = g_strdup_printf(
            "cannot enable %s in the host", mode_name(e->mode));

        vfio_msix_engine_notify_refused(e, 0, e->active, what, err);
        vfio_msix_engine_report(e, what, err);
        return;
    }
    e->host_mode = e->mode;
    trace_vfio_msix_engine_host(e->name, mode_name(e->mode), true);
}

static void vfio_msix_engine_host_disable(VFIOMSIXEngine *e)
{
    if (e->host_mode != VFIO_MSIX_MODE_OFF) {
        e->stats.set_irqs++;
        e->ops->disable(e->opaque, e->host_mode);
        trace_vfio_msix_engine_host(e->name, mode_name(e->host_mode), false);
        e->host_mode = VFIO_MSIX_MODE_OFF;
    }
    bitmap_zero(e->host_vec, e->nr);
    bitmap_zero(e->refused, e->nr);
}

/* Dynamic allocation: the host gets @vector's trigger at first unmask. */
static void vfio_msix_engine_alloc_vector(VFIOMSIXEngine *e, unsigned vector)
{
    g_autofree char *what = NULL;
    Error *err = NULL;
    int32_t fd;

    if (e->host_mode == VFIO_MSIX_MODE_OFF ||
        test_bit(vector, e->host_vec) || test_bit(vector, e->refused)) {
        return;
    }
    fd = vfio_msix_engine_trigger_fd(e, vector);
    if (!vfio_msix_engine_set_triggers(e, vector, 1, &fd, &err)) {
        set_bit(vector, e->host_vec);
        trace_vfio_msix_engine_host_vector(e->name, vector);
        return;
    }
    set_bit(vector, e->refused);
    e->vector_refused = true;
    e->stats.host_refused++;
    if (!err) {
        error_setg(&err, "the host has no vector left");
    }
    what = g_strdup_printf("cannot allocate host %s vector %u",
                           mode_name(e->mode), vector);
    vfio_msix_engine_notify_refused(e, vector, 1, what, err);
    vfio_msix_engine_report(e, what, err);
}

static void vfio_msix_engine_apply_vector(VFIOMSIXEngine *e, unsigned vector)
{
    if (!test_bit(vector, e->unmasked)) {
        msix_eventfds_mask(e->efds, vector);
        return;
    }
    clear_bit(vector, e->stranded);
    vfio_msix_engine_alloc_vector(e, vector);
    if (!test_bit(vector, e->host_vec)) {
        /*
         * Refused, or no MSI-X in the host: nothing signals its eventfd,
         * so it takes no KVM route (a 2048-entry table on a host with 64
         * would fill the GSIs other devices need).  An interrupt from
         * before its host vector went is the guest's all the same.
         */
        msix_eventfds_release_unmasked(e->efds, vector);
        return;
    }
    msix_eventfds_unmask(e->efds, vector, e->msg[vector]);
}

/*
 * Every time, not once per device: asking again cost the guest vectors
 * that worked, which the first refusal's report does not say.
 */
static void vfio_msix_engine_warn_lost(VFIOMSIXEngine *e, unsigned had)
{
    unsigned now = find_first_zero_bit(e->host_vec, had);

    if (now < had) {
        warn_report("%s: asked again, the host gave back %u of the %u %s "
                    "vectors it had: vectors %u-%u stay silent", e->name,
                    now, had, mode_name(e->mode), now, had - 1);
    }
}

/*
 * Of the vectors in @lost, those the guest has masked keep their eventfd
 * watched for what it latched before, which the PBA shows and their
 * unmask sends (vfio_msix_engine_apply_vector()); the device's own
 * pending bits do not have it.
 */
static void vfio_msix_engine_strand(VFIOMSIXEngine *e, unsigned long *lost)
{
    bitmap_andnot(lost, lost, e->unmasked, e->active);
    bitmap_or(e->stranded, e->stranded, lost, e->active);
}

/*
 * The host's answer again, for the mode and every vector of a table;
 * then the vectors whose host trigger came or went follow it.  A host
 * that now has fewer vectors than it gave (a table starts at vector 0)
 * gets back to those: it may not have them all.
 */
static void vfio_msix_engine_retry_host(VFIOMSIXEngine *e, unsigned vector)
{
    g_autofree unsigned long *changed = bitmap_new(e->active);
    g_autofree unsigned long *lost = bitmap_new(e->active);
    unsigned i, had = find_first_zero_bit(e->host_vec, e->active);

    trace_vfio_msix_engine_host_retry(e->name, mode_name(e->mode), vector);
    bitmap_copy(changed, e->host_vec, e->active);
    vfio_msix_engine_host_disable(e);
    vfio_msix_engine_host_enable(e, e->active);
    if (had && e->host_mode == VFIO_MSIX_MODE_OFF) {
        /* Refused outright, not answered with a count: ask for less */
        vfio_msix_engine_host_enable(e, had);
    }
    if (had && !vfio_msix_engine_host_vector(e, had - 1)) {
        vfio_msix_engine_warn_lost(e, had);
    }
    bitmap_andnot(lost, changed, e->host_vec, e->active);
    vfio_msix_engine_strand(e, lost);
    bitmap_xor(changed, changed, e->host_vec, e->active);
    if (e->alloc == VFIO_MSIX_ALLOC_VECTOR) {
        /* A mode the host refused had no vector: each one asks now */
        bitmap_copy(changed, e->unmasked, e->active);
    }
    for (i = find_first_bit(changed, e->active); i < e->active;
         i = find_next_bit(changed, e->active, i + 1)) {
        vfio_msix_engine_apply_vector(e, i);
    }
}

/*
 * The guest unmasks @vector, which the host refused: ask again rather
 * than leave it silent until the guest's next enable, since a refusal
 * may pass (another device freed its vectors).  A host that allocates
 * per vector is asked for this vector, one call at each such unmask,
 * but not again in a batch where it refused one (a function mask
 * cleared over a 2048-vector table would ask for each).
 * A host that refused MSI-X, or gave only part of a table, is asked
 * for the mode and the whole table once per guest enable: growing a
 * table the host cannot resize (NORESIZE) tears it down, which leaves
 * each live vector's interrupts pending in the device for a moment (as
 * stock vfio-pci does at every new unmask there).
 */
static void vfio_msix_engine_ask_again(VFIOMSIXEngine *e, unsigned vector)
{
    if (e->mode == VFIO_MSIX_MODE_MSI) {
        /*
         * Not for MSI: the host cannot add MSI vectors, and with its MSI
         * off for a moment the device would signal INTx, which nobody
         * hears.  The guest's next enable asks again, as stock does.
         */
        return;
    }
    if (e->host_mode != VFIO_MSIX_MODE_OFF &&
        e->alloc == VFIO_MSIX_ALLOC_VECTOR) {
        if (!e->vector_refused) {
            clear_bit(vector, e->refused);
        }
        return;
    }
    if (!e->host_retried) {
        e->host_retried = true;
        vfio_msix_engine_retry_host(e, vector);
    }
}

/* The end of the batch that turned the mode on */
static void vfio_msix_engine_go_live(VFIOMSIXEngine *e)
{
    unsigned i;

    e->enable_pending = false;
    vfio_msix_engine_host_enable(e, e->active);
    for (i = 0; i < e->active; i++) {
        vfio_msix_engine_apply_vector(e, i);
    }
}

void vfio_msix_engine_begin(VFIOMSIXEngine *e)
{
    e->batch++;
    msix_eventfds_begin(e->efds);
}

void vfio_msix_engine_commit(VFIOMSIXEngine *e)
{
    assert(e->batch > 0);
    if (--e->batch == 0 && e->enable_pending) {
        vfio_msix_engine_go_live(e);
    }
    if (e->batch == 0) {
        e->vector_refused = false;
    }
    msix_eventfds_commit(e->efds);
}

static void vfio_msix_engine_release(VFIOMSIXEngine *e, unsigned first,
                                     unsigned end)
{
    unsigned i;

    bitmap_clear(e->unmasked, first, end - first);
    bitmap_clear(e->stranded, first, end - first);
    for (i = first; i < end; i++) {
        msix_eventfds_release(e->efds, i);
    }
}

void vfio_msix_engine_disable(VFIOMSIXEngine *e)
{
    if (e->mode == VFIO_MSIX_MODE_OFF) {
        return;
    }
    trace_vfio_msix_engine_disable(e->name, mode_name(e->mode));
    e->mode = VFIO_MSIX_MODE_OFF;
    e->enable_pending = false;
    /*
     * The host first: once it is off no signal can race with the
     * release, and what an eventfd still holds is dropped and counted,
     * a shrink's released vectors included.
     */
    vfio_msix_engine_host_disable(e);
    vfio_msix_engine_release(e, 0, e->enabled);
}

void vfio_msix_engine_enable(VFIOMSIXEngine *e, VFIOMSIXMode mode,
                             unsigned nr, VFIOMSIXAlloc alloc,
                             const MSIXEventfdOps *ops)
{
    assert(mode != VFIO_MSIX_MODE_OFF && nr > 0 && nr <= e->nr);
    vfio_msix_engine_disable(e);
    trace_vfio_msix_engine_enable(e->name, mode_name(mode), nr,
                                  alloc == VFIO_MSIX_ALLOC_TABLE);
    if (ops) {
        msix_eventfds_set_ops(e->efds, ops);
    }
    e->mode = mode;
    e->enabled = nr;
    e->active = nr;
    e->alloc = alloc;
    e->host_retried = false;
    e->enable_pending = true;
    vfio_msix_engine_begin(e);
    vfio_msix_engine_commit(e);
}

void vfio_msix_engine_shrink(VFIOMSIXEngine *e, unsigned first)
{
    if (e->mode == VFIO_MSIX_MODE_OFF || first >= e->active) {
        return;
    }
    trace_vfio_msix_engine_shrink(e->name, first, e->active);
    vfio_msix_engine_release(e, first, e->active);
    e->active = first;
}

/* The host refused @vector, or the mode, at its last answer */
static bool vfio_msix_engine_host_refused(VFIOMSIXEngine *e, unsigned vector)
{
    return e->host_mode == VFIO_MSIX_MODE_OFF || test_bit(vector, e->refused);
}

void vfio_msix_engine_set_vector(VFIOMSIXEngine *e, unsigned vector,
                                 bool unmasked, MSIMessage msg)
{
    bool newly_unmasked;

    if (e->mode == VFIO_MSIX_MODE_OFF || vector >= e->active) {
        trace_vfio_msix_engine_vector_ignored(e->name, vector);
        return;
    }
    trace_vfio_msix_engine_vector(e->name, vector, unmasked, msg.address,
                                  msg.data);
    newly_unmasked = unmasked && !test_bit(vector, e->unmasked);
    if (unmasked) {
        set_bit(vector, e->unmasked);
        e->msg[vector] = msg;
    } else {
        clear_bit(vector, e->unmasked);
    }
    if (e->enable_pending) {
        return;
    }
    /*
     * At once, even within a batch: the eventfds take what is pending
     * now, before the MSI-X core looks at the PBA bit, and their own
     * batch defers the route commit and the irqfd.
     */
    vfio_msix_engine_begin(e);
    if (newly_unmasked && vfio_msix_engine_host_refused(e, vector)) {
        vfio_msix_engine_ask_again(e, vector);
    }
    vfio_msix_engine_apply_vector(e, vector);
    vfio_msix_engine_commit(e);
}

MSIXEventfds *vfio_msix_engine_eventfds(VFIOMSIXEngine *e)
{
    return e->efds;
}

VFIOMSIXMode vfio_msix_engine_mode(VFIOMSIXEngine *e)
{
    return e->mode;
}

unsigned vfio_msix_engine_vectors(VFIOMSIXEngine *e)
{
    return e->mode == VFIO_MSIX_MODE_OFF ? 0 : e->active;
}

bool vfio_msix_engine_pba_quiet(VFIOMSIXEngine *e)
{
    return e->mode != VFIO_MSIX_MODE_OFF && !e->enable_pending &&
           e->host_mode == e->mode &&
           bitmap_equal(e->unmasked, e->host_vec, e->active) &&
           bitmap_empty(e->stranded, e->active);
}

VFIOMSIXMode vfio_msix_engine_host_mode(VFIOMSIXEngine *e)
{
    return e->host_mode;
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
                                     const VFIOMSIXHostOps *ops,
                                     void *opaque)
{
    VFIOMSIXEngine *e = g_new0(VFIOMSIXEngine, 1);

    e->name = g_strdup(name);
    e->efds = efds;
    e->nr = msix_eventfds_nr(efds);
    e->ops = ops;
    e->opaque = opaque;
    e->unmasked = bitmap_new(e->nr);
    e->msg = g_new0(MSIMessage, e->nr);
    e->host_vec = bitmap_new(e->nr);
    e->refused = bitmap_new(e->nr);
    e->stranded = bitmap_new(e->nr);
    return e;
}

void vfio_msix_engine_free(VFIOMSIXEngine *e)
{
    if (!e) {
        return;
    }
    vfio_msix_engine_disable(e);
    msix_eventfds_free(e->efds);
    g_free(e->stranded);
    g_free(e->refused);
    g_free(e->host_vec);
    g_free(e->msg);
    g_free(e->unmasked);
    g_free(e->name);
    g_free(e);
}
