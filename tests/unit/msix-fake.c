/*
 * A fake interrupt controller and KVM for the MSI-X unit tests
 *
 * Copyright (c) 2026 The qemu-vmsix authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "msix-fake.h"

static void deliver_locked(Fake *f, unsigned vector, uint32_t data)
{
    FakeVector *fv = &f->v[vector];

    if (!fv->since) {
        f->duplicates++;
    }
    if (data != fv->msg.data) {
        f->wrong_data++;
    }
    fv->since = 0;
    fv->last_data = data;
}

static uint64_t read_count(EventNotifier *n)
{
    uint64_t count = 0;

    if (read(event_notifier_get_fd(n), &count, sizeof(count)) !=
        sizeof(count)) {
        return 0;
    }
    return count;
}

/* The count, left in the eventfd */
static uint64_t peek_count(EventNotifier *n)
{
    uint64_t count = read_count(n);

    if (count) {
        g_assert_cmpint(write(event_notifier_get_fd(n), &count,
                              sizeof(count)), ==, sizeof(count));
    }
    return count;
}

static int fake_route_set(void *opaque, unsigned vector, int virq,
                          MSIMessage msg, bool *changed, Error **errp)
{
    Fake *f = opaque;

    f->route_sets++;
    if (f->fail_route) {
        error_setg(errp, "fake: route table full");
        return -ENOSPC;
    }
    if (f->gicv2m) {
        if (msg.data >= FAKE_MAX_VIRQS - 1000) {
            error_setg(errp, "fake: data %u is no SPI of the frame",
                       msg.data);
            return -EINVAL;
        }
        *changed = false;
        f->route[1000 + msg.data] = msg;
        f->committed[1000 + msg.data] = msg;
        return 1000 + msg.data;
    }
    if (virq < 0) {
        for (virq = 0; f->route_used[virq]; virq++) {
            g_assert_cmpint(virq, <, 999);
        }
        f->route_used[virq] = true;
        f->route[virq] = msg;
        f->route_changes++;
        *changed = true;
        return virq;
    }
    g_assert_true(f->route_used[virq]);
    *changed = f->route[virq].address != msg.address ||
               f->route[virq].data != msg.data;
    f->route[virq] = msg;
    f->route_changes += *changed;
    return virq;
}

static void fake_route_release(void *opaque, int virq)
{
    Fake *f = opaque;

    g_assert_true(f->gicv2m || f->route_used[virq]);
    f->route_used[virq] = false;
    f->route_releases++;
}

static int fake_routes_commit(void *opaque, Error **errp)
{
    Fake *f = opaque;

    if (f->fail_commit) {
        error_setg(errp, "fake: KVM_SET_GSI_ROUTING refused");
        return -ENOSPC;
    }
    /* The kernel delivers through the table it took, not the staged one */
    memcpy(f->committed, f->route, sizeof(f->committed));
    f->commits++;
    return 0;
}

static int vector_of(Fake *f, EventNotifier *n)
{
    unsigned i;

    for (i = 0; i < f->nr; i++) {
        if (msix_eventfds_notifier(f->s, i) == n) {
            return i;
        }
    }
    g_assert_not_reached();
}

static int fake_irqfd_attach(void *opaque, EventNotifier *n, int virq,
                             Error **errp)
{
    Fake *f = opaque;
    int vector = vector_of(f, n);
    FakeVector *fv = &f->v[vector];
    uint64_t count;

    if (f->fail_attach) {
        error_setg(errp, "fake: KVM_IRQFD refused");
        return -EINVAL;
    }
    qemu_mutex_lock(&f->lock);
    g_assert_false(fv->attached);
    fv->attached = true;
    fv->virq = virq;
    f->attaches++;
    fv->vec_attaches++;
    /*
     * KVM_IRQFD injects at once if the eventfd holds a count, and leaves
     * the count there: only a later signal's wakeup, or the deassign,
     * reads it.
     */
    count = peek_count(n);
    fv->attach_count = count;
    fv->attach_signalled = fv->signalled;
    if (count) {
        fv->kernel_delivered++;
        fv->kernel_coalesced += count - 1;
        deliver_locked(f, vector, f->committed[virq].data);
    }
    qemu_mutex_unlock(&f->lock);
    return 0;
}

static int fake_irqfd_detach(void *opaque, EventNotifier *n, int virq,
                             Error **errp)
{
    Fake *f = opaque;
    FakeVector *fv = &f->v[vector_of(f, n)];

    if (f->fail_detach) {
        error_setg(errp, "fake: KVM_IRQFD deassign refused");
        return -EBADF;
    }
    qemu_mutex_lock(&f->lock);
    g_assert_true(fv->attached);
    g_assert_cmpint(fv->virq, ==, virq);
    /* The deassign reads what the assign injected already */
    read_count(n);
    fv->attached = false;
    f->detaches++;
    qemu_mutex_unlock(&f->lock);
    return 0;
}

void fake_deliver(void *opaque, unsigned vector)
{
    Fake *f = opaque;

    /* msi_notify()'s assertion */
    g_assert_true(!f->msi_nr || vector < f->msi_nr);
    qemu_mutex_lock(&f->lock);
    f->v[vector].user_delivered++;
    deliver_locked(f, vector, f->v[vector].msg.data);
    qemu_mutex_unlock(&f->lock);
}

static void fake_set_pending(void *opaque, unsigned vector)
{
    Fake *f = opaque;

    g_assert_true(!f->msi_nr || vector < f->msi_nr);
    f->v[vector].pba = true;
}

static bool fake_take_pending(void *opaque, unsigned vector)
{
    Fake *f = opaque;
    bool pending = f->v[vector].pba;

    f->v[vector].pba = false;
    return pending;
}

static void fake_latched(void *opaque, unsigned vector)
{
    Fake *f = opaque;

    qemu_event_set(&f->latched);
}

const MSIXEventfdOps fake_kvm_ops = {
    .route_set = fake_route_set,
    .route_release = fake_route_release,
    .routes_commit = fake_routes_commit,
    .irqfd_attach = fake_irqfd_attach,
    .irqfd_detach = fake_irqfd_detach,
    .deliver = fake_deliver,
    .set_pending = fake_set_pending,
    .take_pending = fake_take_pending,
    .latched = fake_latched,
};

const MSIXEventfdOps fake_userspace_ops = {
    .deliver = fake_deliver,
    .set_pending = fake_set_pending,
    .take_pending = fake_take_pending,
    .latched = fake_latched,
};

void fake_init(Fake *f, unsigned nr, bool kvm)
{
    unsigned i;

    g_assert_cmpuint(nr, <=, FAKE_MAX_VECTORS);
    memset(f, 0, sizeof(*f));
    qemu_mutex_init(&f->lock);
    qemu_event_init(&f->latched, false);
    f->nr = nr;
    for (i = 0; i < nr; i++) {
        f->v[i].msg.address = 0x8090040;
        f->v[i].msg.data = i;
    }
    f->s = msix_eventfds_new("fake", nr, kvm ? &fake_kvm_ops
                                             : &fake_userspace_ops,
                             f, &error_abort);
}

void fake_cleanup(Fake *f)
{
    msix_eventfds_free(f->s);
    qemu_event_destroy(&f->latched);
    qemu_mutex_destroy(&f->lock);
}

void fake_raise(Fake *f, unsigned vector)
{
    FakeVector *fv = &f->v[vector];

    qemu_mutex_lock(&f->lock);
    fv->raised++;
    fv->since++;
    if (fv->attached) {
        fv->kernel_delivered++;
        deliver_locked(f, vector, f->committed[fv->virq].data);
    } else {
        fv->signalled++;
        event_notifier_set(msix_eventfds_notifier(f->s, vector));
    }
    qemu_mutex_unlock(&f->lock);
}

void fake_set_msg(Fake *f, unsigned vector, uint32_t data)
{
    qemu_mutex_lock(&f->lock);
    f->v[vector].msg.data = data;
    qemu_mutex_unlock(&f->lock);
}

uint64_t fake_delivered(Fake *f, unsigned vector)
{
    return f->v[vector].kernel_delivered + f->v[vector].user_delivered;
}

uint64_t fake_eventfd_count(Fake *f, unsigned vector)
{
    return peek_count(msix_eventfds_notifier(f->s, vector));
}

/* Vectors raised since their last delivery */
uint64_t fake_undelivered(Fake *f)
{
    uint64_t n = 0;
    unsigned i;

    for (i = 0; i < f->nr; i++) {
        n += f->v[i].since != 0;
    }
    return n;
}
