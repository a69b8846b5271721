/*
 * A fake vfio host and a reference model of the guest for the MSI-X
 * engine's tests and fuzzer
 *
 * Copyright (c) 2026 The qemu-vmsix authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/main-loop.h"
#include "msix-model.h"

static void host_clear_triggers(FakeHost *h)
{
    unsigned i;

    for (i = 0; i < FAKE_MAX_VECTORS; i++) {
        h->trigger[i] = -1;
    }
}

static int host_set_triggers(void *opaque, VFIOMSIXMode mode, unsigned start,
                             unsigned count, const int32_t *fds,
                             Error **errp)
{
    FakeHost *h = opaque;
    unsigned i;

    h->set_irqs++;
    g_assert_cmpint(mode, !=, VFIO_MSIX_MODE_OFF);
    if (h->mode != VFIO_MSIX_MODE_OFF && h->mode != mode) {
        h->wrong_index++;
        h->set_irqs_failed++;
        error_setg(errp, "fake: EINVAL, another IRQ index is on");
        return -EINVAL;
    }
    if (h->fail) {
        h->set_irqs_failed++;
        h->enable_refused |= h->mode == VFIO_MSIX_MODE_OFF;
        error_setg(errp, "fake: no host vectors left");
        return -ENOSPC;
    }
    if (h->limit && start + count > h->limit) {
        if (h->mode == VFIO_MSIX_MODE_OFF) {
            /* The kernel's enable: how many it has, and nothing on */
            return h->limit;
        }
        h->set_irqs_failed++;
        error_setg(errp, "fake: no host vector %u", start + count - 1);
        return -ENOSPC;
    }
    h->mode = mode;
    h->enable_refused = false;
    for (i = 0; i < count; i++) {
        if (h->trigger[start + i] >= 0 && h->trigger[start + i] != fds[i]) {
            h->changed_triggers++;
        }
        h->trigger[start + i] = fds[i];
    }
    /* A device with an interrupt pending fires as soon as it can */
    if (h->raise_at_enable >= start && h->raise_at_enable < start + count &&
        h->trigger[h->raise_at_enable] >= 0) {
        fake_raise(&h->f, h->raise_at_enable);
    }
    return 0;
}

static void host_disable(void *opaque, VFIOMSIXMode mode)
{
    FakeHost *h = opaque;

    if (h->mode != mode) {
        h->wrong_index++;
    }
    h->disables++;
    h->state_at_disable = msix_eventfds_state(h->f.s, 0);
    h->mode = VFIO_MSIX_MODE_OFF;
    host_clear_triggers(h);
}

static void host_refused(void *opaque, unsigned first, unsigned count,
                         const char *reason)
{
    FakeHost *h = opaque;

    g_string_append_printf(h->refusals, "%u+%u (%s);", first, count, reason);
}

static const VFIOMSIXHostOps host_ops = {
    .set_triggers = host_set_triggers,
    .disable = host_disable,
    .refused = host_refused,
};

FakeHost *host_new_kvm(unsigned nr, bool kvm)
{
    FakeHost *h = g_new0(FakeHost, 1);

    host_clear_triggers(h);
    h->raise_at_enable = -1;
    h->refusals = g_string_new("");
    fake_init(&h->f, nr, kvm);
    h->e = vfio_msix_engine_new("fake", h->f.s, &host_ops, h);
    return h;
}

FakeHost *host_new(unsigned nr)
{
    return host_new_kvm(nr, true);
}

void host_free(FakeHost *h)
{
    /* The engine frees the eventfds */
    vfio_msix_engine_free(h->e);
    h->f.s = NULL;
    qemu_event_destroy(&h->f.latched);
    qemu_mutex_destroy(&h->f.lock);
    g_string_free(h->refusals, true);
    g_free(h);
}

void set_vector(FakeHost *h, unsigned vector, bool unmasked)
{
    vfio_msix_engine_set_vector(h->e, vector, unmasked, h->f.v[vector].msg);
}

void device_raise(FakeHost *h, unsigned vector)
{
    if (h->trigger[vector] >= 0) {
        fake_raise(&h->f, vector);
    }
}

void owner_intx_on(FakeHost *h)
{
    if (h->mode != VFIO_MSIX_MODE_OFF) {
        h->intx_refused++;
    }
}

void guest_msix_off(FakeHost *h)
{
    unsigned i;

    vfio_msix_engine_begin(h->e);
    vfio_msix_engine_disable(h->e);
    owner_intx_on(h);
    vfio_msix_engine_commit(h->e);
    for (i = 0; i < h->f.nr; i++) {
        h->f.v[i].since = 0;
    }
}

void guest_enable_alloc(FakeHost *h, VFIOMSIXAlloc alloc)
{
    vfio_msix_engine_begin(h->e);
    vfio_msix_engine_enable(h->e, VFIO_MSIX_MODE_MSIX, h->f.nr, alloc, NULL);
    h->f.msi_nr = 0;
    vfio_msix_engine_commit(h->e);
}

void guest_enable(FakeHost *h)
{
    guest_enable_alloc(h, VFIO_MSIX_ALLOC_TABLE);
}

void guest_msi_on(FakeHost *h, unsigned nr)
{
    unsigned i;

    vfio_msix_engine_begin(h->e);
    vfio_msix_engine_enable(h->e, VFIO_MSIX_MODE_MSI, nr,
                            VFIO_MSIX_ALLOC_TABLE, NULL);
    h->f.msi_nr = nr;
    for (i = 0; i < nr; i++) {
        set_vector(h, i, true);
    }
    vfio_msix_engine_commit(h->e);
}


void model_init(Model *m, unsigned vectors, bool kvm)
{
    g_assert_cmpuint(vectors, <=, MODEL_MAX_VECTORS);
    memset(m, 0, sizeof(*m));
    m->h = host_new_kvm(vectors, kvm);
    m->vectors = vectors;
}

void model_destroy(Model *m)
{
    host_free(m->h);
    m->h = NULL;
}

bool model_unmasked(Model *m, unsigned v)
{
    return !m->vmasked[v] && (m->mode == VFIO_MSIX_MODE_MSI || !m->fmasked);
}

/*
 * msix_handle_mask_update() and msi_write_config(): the PCI core sends
 * the pending bit of a vector the guest unmasked itself.
 */
static void model_core_sends_pending(Model *m, unsigned v)
{
    FakeVector *fv = &m->h->f.v[v];

    if (model_unmasked(m, v) && fv->pba) {
        fv->pba = false;
        m->core_sent++;
        fake_deliver(&m->h->f, v);
    }
}

/*
 * MSI-X's function mask, where the core follows each vector's notifier,
 * or any write to the MSI capability, where vfio-pci merges what was
 * latched, the core sends the pending bits and vfio_update_msi() passes
 * every vector on.
 */
void model_apply_masks(Model *m)
{
    unsigned i;

    vfio_msix_engine_begin(m->h->e);
    if (m->mode == VFIO_MSIX_MODE_MSI) {
        msix_eventfds_poll(m->h->f.s, 0, m->nr);
        for (i = 0; i < m->nr; i++) {
            model_core_sends_pending(m, i);
        }
    }
    for (i = 0; i < m->nr; i++) {
        set_vector(m->h, i, model_unmasked(m, i));
        if (m->mode == VFIO_MSIX_MODE_MSIX) {
            model_core_sends_pending(m, i);
        }
    }
    vfio_msix_engine_commit(m->h->e);
}

void model_forget(Model *m, unsigned first)
{
    unsigned i;

    for (i = first; i < m->vectors; i++) {
        m->h->f.v[i].since = 0;
        m->h->f.v[i].pba = false;
    }
}

void model_off(Model *m)
{
    if (m->mode == VFIO_MSIX_MODE_OFF) {
        return;
    }
    guest_msix_off(m->h);
    m->mode = VFIO_MSIX_MODE_OFF;
    m->nr = 0;
    model_forget(m, 0);
}

void model_on(Model *m, VFIOMSIXMode mode, unsigned nr)
{
    g_assert_cmpuint(nr, >=, 1);
    g_assert_cmpuint(nr, <=, m->vectors);
    model_off(m);
    m->mode = mode;
    m->nr = nr;
    vfio_msix_engine_begin(m->h->e);
    vfio_msix_engine_enable(m->h->e, mode, nr,
                            mode == VFIO_MSIX_MODE_MSIX ? m->alloc
                                                        : VFIO_MSIX_ALLOC_TABLE,
                            NULL);
    m->h->f.msi_nr = mode == VFIO_MSIX_MODE_MSI ? nr : 0;
    model_apply_masks(m);
    vfio_msix_engine_commit(m->h->e);
}

void model_raise(Model *m, unsigned v)
{
    device_raise(m->h, v);
    if (v >= m->nr) {
        /* A host vector the guest no longer enables */
        model_forget(m, v);
    }
}

void model_msix_mask(Model *m, unsigned v, bool masked)
{
    m->vmasked[v] = masked;
    set_vector(m->h, v, model_unmasked(m, v));
    if (!masked) {
        model_core_sends_pending(m, v);
    }
}

void model_msix_data(Model *m, unsigned v, uint32_t data)
{
    /* Only while masked: the spec leaves other changes undefined */
    if (!model_unmasked(m, v)) {
        fake_set_msg(&m->h->f, v, data);
    }
}

void model_msi_shrink(Model *m, unsigned nr)
{
    if (m->mode != VFIO_MSIX_MODE_MSI || nr >= m->nr) {
        return;
    }
    vfio_msix_engine_shrink(m->h->e, nr);
    m->h->f.msi_nr = nr;
    m->nr = nr;
    model_forget(m, nr);
}

void model_pba_read(Model *m, unsigned first, unsigned count)
{
    if (first < m->nr) {
        msix_eventfds_poll(m->h->f.s, first, MIN(count, m->nr - first));
    }
}

void model_reset(Model *m)
{
    FakeHost *h = m->h;

    model_off(m);
    memset(m->vmasked, 0, sizeof(m->vmasked));
    m->fmasked = false;
    h->f.duplicates = h->f.wrong_data = 0;
    h->limit = 0;
    h->fail = false;
    h->raise_at_enable = -1;
    h->f.fail_route = h->f.fail_commit = h->f.fail_attach = false;
}

/* Flush what QEMU's main loop delivers (routes the kernel refused) */
static void model_run_main_loop(void)
{
    /* One non-blocking iteration dispatches every ready handler */
    main_loop_wait(true);
}

void model_settle(Model *m)
{
    memset(m->vmasked, 0, sizeof(m->vmasked));
    m->fmasked = false;
    model_apply_masks(m);
    model_run_main_loop();
}

/*
 * vfio-pci stops trapping the PBA while the engine says it is quiet:
 * then nothing may be pending, neither latched by the eventfds nor in
 * the pending bits the PCI core keeps.
 */
static char *model_check_pba_untrapped(Model *m)
{
    MSIXEventfds *efds = vfio_msix_engine_eventfds(m->h->e);
    unsigned v, nr = vfio_msix_engine_vectors(m->h->e);

    if (!vfio_msix_engine_pba_quiet(m->h->e)) {
        return NULL;
    }
    msix_eventfds_poll(efds, 0, nr);
    for (v = 0; v < nr; v++) {
        if (msix_eventfds_latched(efds, v) || m->h->f.v[v].pba) {
            return g_strdup_printf(
                "vector %u pending while the PBA is quiet", v);
        }
    }
    return NULL;
}

char *model_check_host(Model *m)
{
    FakeHost *h = m->h;

    /* A mode the host refused stays off there until the next enable */
    if ((h->mode != m->mode &&
         !(h->mode == VFIO_MSIX_MODE_OFF && h->enable_refused)) ||
        h->wrong_index || h->intx_refused) {
        return g_strdup_printf(
            "host index %d for mode %d, %u calls to the wrong index, "
            "%u INTx refused", h->mode, m->mode, h->wrong_index,
            h->intx_refused);
    }
    return model_check_pba_untrapped(m);
}

char *model_check_delivery(Model *m)
{
    Fake *f = &m->h->f;

    if (f->duplicates || f->wrong_data || fake_undelivered(f)) {
        return g_strdup_printf(
            "%u duplicates, %u stale messages, %" PRIu64
            " vectors undelivered", f->duplicates, f->wrong_data,
            fake_undelivered(f));
    }
    return NULL;
}

/*
 * What the engine and the eventfds count is what the fakes saw: host
 * calls and their failures, irqfds attached and detached, MSIs sent
 * from userspace; and no KVM route outlives the mode.
 */
char *model_check_counters(Model *m)
{
    FakeHost *h = m->h;
    Fake *f = &h->f;
    MSIXEventfdStats st, sum = { 0 };
    VFIOMSIXStats es;
    uint64_t user = 0;
    unsigned i, attached = 0, routes = 0;

    for (i = 0; i < f->nr; i++) {
        msix_eventfds_get_stats(f->s, i, &st);
        sum.userspace += st.userspace;
        sum.irqfd_attach += st.irqfd_attach;
        sum.irqfd_detach += st.irqfd_detach;
        user += f->v[i].user_delivered;
        attached += f->v[i].attached;
    }
    for (i = 0; i < FAKE_MAX_VIRQS; i++) {
        routes += f->route_used[i];
    }
    vfio_msix_engine_get_stats(h->e, &es);
    if (es.set_irqs != h->set_irqs + h->disables ||
        es.host_failures != h->set_irqs_failed) {
        return g_strdup_printf(
            "engine counts %" PRIu64 " SET_IRQS, %" PRIu64 " failed; "
            "the host saw %u, %u failed", es.set_irqs, es.host_failures,
            h->set_irqs + h->disables, h->set_irqs_failed);
    }
    if (sum.irqfd_attach != f->attaches || sum.irqfd_detach != f->detaches ||
        f->attaches - f->detaches != attached) {
        return g_strdup_printf(
            "eventfds count %" PRIu64 " irqfd attaches and %" PRIu64
            " detaches; KVM saw %u and %u, %u attached now",
            sum.irqfd_attach, sum.irqfd_detach, f->attaches, f->detaches,
            attached);
    }
    if (sum.userspace + m->core_sent != user) {
        return g_strdup_printf(
            "%" PRIu64 " MSIs from the main loop and %" PRIu64
            " from the PCI core, %" PRIu64 " delivered from userspace",
            sum.userspace, m->core_sent, user);
    }
    if (m->mode == VFIO_MSIX_MODE_OFF && (routes || attached)) {
        return g_strdup_printf("mode off with %u KVM routes and %u irqfds",
                               routes, attached);
    }
    return NULL;
}
