/*
 * Eventfd-backed MSI-X vectors
 *
 * Copyright (c) 2026 The qemu-vmsix authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Locking: everything runs under the BQL except the poller thread.  The
 * poller and the BQL side share only the "watched" flags, the epoll set
 * and the latched counts, under MSIXEventfds.lock, and the latched
 * bitmap, which is atomic.  The poller never takes the BQL.  Because it
 * reads an eventfd only under the lock and only while the vector is
 * watched, a vector is the poller's no more once msix_eventfds_unwatch()
 * returns: that is the handshake that lets unmask drain the eventfd and
 * attach an irqfd without the poller ever reading an eventfd that KVM
 * owns.
 */

#include "qemu/osdep.h"
#include <sys/epoll.h>
#include "qapi/error.h"
#include "qemu/atomic.h"
#include "qemu/bitops.h"
#include "qemu/error-report.h"
#include "qemu/main-loop.h"
#include "qemu/thread.h"
#include "hw/pci/msix-eventfd.h"
#include "trace.h"

/* epoll data of the stop notifier; vectors use their number */
#define MSIX_EVENTFDS_STOP UINT32_MAX

typedef struct MSIXEventfdVector {
    MSIXEventfds *s;
    EventNotifier notifier;
    MSIXEventfdState state;
    int virq;                   /* KVM route, or -1 */
    MSIMessage msg;
    bool watched;               /* by the poller; under s->lock */
    bool irqfd_attached;
    bool replay;                /* inject one MSI when it goes live */
    bool vlpi_maybe_dropped;    /* masked while forwarded: see vlpi_resend */
    bool fell_back;             /* served by QEMU since KVM refused it */
    uint64_t signals;           /* not yet delivered; under s->lock */
    MSIXEventfdStats stats;     /* .latched under s->lock */
} MSIXEventfdVector;

struct MSIXEventfds {
    char *name;
    unsigned nr;
    MSIXEventfdVector *vec;
    const MSIXEventfdOps *ops;
    void *opaque;
    const MSIXEventfdListener *listener;
    void *listener_opaque;
    unsigned long *latched;     /* set by the poller, atomically */
    unsigned long *deferred;    /* to go live at the end of the batch */
    QemuMutex lock;
    int epfd;
    EventNotifier stop;
    QemuThread thread;
    bool thread_running;
    unsigned batch;
    bool routes_changed;
    bool vlpi_resend;
    uint64_t route_commits;
    /*
     * Reported once for the device, not per vector: a full route table
     * refuses thousands of vectors at once.  Each is counted, and each
     * fallback traced.
     */
    bool failure_reported;      /* of a route or irqfd failure */
    bool poll_failure_reported;
    bool detach_failure_reported;
};

static const char *const state_names[] = {
    [MSIX_EVENTFD_UNUSED] = "unused",
    [MSIX_EVENTFD_MASKED] = "masked",
    [MSIX_EVENTFD_BYPASS] = "bypass",
    [MSIX_EVENTFD_USERSPACE] = "userspace",
};

static const char *state_name(MSIXEventfdState state)
{
    return state < ARRAY_SIZE(state_names) ? state_names[state] : "?";
}

static unsigned vector_nr(MSIXEventfdVector *v)
{
    return v - v->s->vec;
}

static void set_state(MSIXEventfdVector *v, MSIXEventfdState state)
{
    if (v->state != state) {
        trace_msix_eventfds_state(v->s->name, vector_nr(v),
                                  state_name(v->state), state_name(state));
        v->state = state;
    }
}

/* Read and reset the eventfd's count; 0 if nothing was signalled. */
static uint64_t msix_eventfds_drain(MSIXEventfdVector *v)
{
    uint64_t count = 0;
    ssize_t len;

    do {
        len = read(event_notifier_get_fd(&v->notifier), &count,
                   sizeof(count));
    } while (len < 0 && errno == EINTR);

    return len == sizeof(count) ? count : 0;
}

static bool take_latched(MSIXEventfds *s, unsigned vector)
{
    unsigned long mask = BIT_MASK(vector);

    return qatomic_fetch_and(&s->latched[BIT_WORD(vector)], ~mask) & mask;
}

/* Record @count signals of masked @v as pending; s->lock held */
static void add_latched(MSIXEventfdVector *v, uint64_t count)
{
    MSIXEventfds *s = v->s;

    set_bit_atomic(vector_nr(v), s->latched);
    v->signals += count;
    v->stats.latched += count;
    trace_msix_eventfds_latch(s->name, vector_nr(v), count);
}

/* Poller thread, s->lock held */
static void msix_eventfds_latch(MSIXEventfds *s, unsigned vector)
{
    MSIXEventfdVector *v;
    uint64_t count;

    if (vector >= s->nr) {
        return;
    }
    v = &s->vec[vector];
    /* It may have been unwatched since epoll_wait() returned */
    if (!v->watched) {
        return;
    }
    count = msix_eventfds_drain(v);
    if (count) {
        add_latched(v, count);
        if (s->ops->latched) {
            s->ops->latched(s->opaque, vector);
        }
    }
}

/* BQL side, @v unwatched: count what arrived since the poller let go */
static void latch_drained(MSIXEventfdVector *v)
{
    uint64_t count = msix_eventfds_drain(v);

    if (count) {
        qemu_mutex_lock(&v->s->lock);
        add_latched(v, count);
        qemu_mutex_unlock(&v->s->lock);
    }
}

static void *poller_thread(void *opaque)
{
    MSIXEventfds *s = opaque;
    struct epoll_event ev[32];
    bool stop = false;

    while (!stop) {
        int i, n = epoll_wait(s->epfd, ev, ARRAY_SIZE(ev), -1);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            error_report("%s: MSI-X poller stopped: %s", s->name,
                         strerror(errno));
            break;
        }
        qemu_mutex_lock(&s->lock);
        for (i = 0; i < n; i++) {
            if (ev[i].data.u32 == MSIX_EVENTFDS_STOP) {
                stop = true;
            } else {
                msix_eventfds_latch(s, ev[i].data.u32);
            }
        }
        qemu_mutex_unlock(&s->lock);
    }
    return NULL;
}

static int epoll_add(MSIXEventfds *s, EventNotifier *n, uint32_t data)
{
    struct epoll_event ev = { .events = EPOLLIN, .data.u32 = data };

    return epoll_ctl(s->epfd, EPOLL_CTL_ADD, event_notifier_get_fd(n), &ev);
}

static void report_failure(MSIXEventfdVector *v, bool *reported,
                           Error *err)
{
    if (!err) {
        error_setg(&err, "interrupt controller error");
    }
    v->stats.failures++;
    if (!*reported) {
        *reported = true;
        error_report("%s: vector %u: %s; its interrupts, and those of any "
                     "vector refused later, go through QEMU",
                     v->s->name, vector_nr(v), error_get_pretty(err));
    }
    error_free(err);
}

/* Fallback when epoll refuses the eventfd: latch from the main loop. */
static void latch_on_main_loop(void *opaque)
{
    MSIXEventfdVector *v = opaque;
    MSIXEventfds *s = v->s;

    qemu_mutex_lock(&s->lock);
    msix_eventfds_latch(s, vector_nr(v));
    qemu_mutex_unlock(&s->lock);
}

static void msix_eventfds_watch(MSIXEventfdVector *v)
{
    MSIXEventfds *s = v->s;
    int ret;

    qemu_mutex_lock(&s->lock);
    v->watched = true;
    ret = epoll_add(s, &v->notifier, vector_nr(v));
    qemu_mutex_unlock(&s->lock);

    if (ret < 0) {
        Error *err = NULL;

        error_setg_errno(&err, errno, "cannot poll it while masked");
        report_failure(v, &v->s->poll_failure_reported, err);
        qemu_set_fd_handler(event_notifier_get_fd(&v->notifier),
                            latch_on_main_loop, NULL, v);
    }
}

/* Once this returns, the poller no longer reads @v's eventfd. */
static void msix_eventfds_unwatch(MSIXEventfdVector *v)
{
    MSIXEventfds *s = v->s;
    int fd = event_notifier_get_fd(&v->notifier);

    qemu_mutex_lock(&s->lock);
    if (v->watched) {
        v->watched = false;
        if (epoll_ctl(s->epfd, EPOLL_CTL_DEL, fd, NULL) < 0) {
            qemu_set_fd_handler(fd, NULL, NULL, NULL);
        }
    }
    qemu_mutex_unlock(&s->lock);
}

static void userspace_interrupt(void *opaque)
{
    MSIXEventfdVector *v = opaque;
    MSIXEventfds *s = v->s;

    uint64_t count = msix_eventfds_drain(v);

    if (count) {
        v->stats.userspace++;
        v->stats.coalesced += count - 1;
        trace_msix_eventfds_deliver(s->name, vector_nr(v));
        s->ops->deliver(s->opaque, vector_nr(v));
    }
}

static void set_userspace_handler(MSIXEventfdVector *v, bool on)
{
    qemu_set_fd_handler(event_notifier_get_fd(&v->notifier),
                        on ? userspace_interrupt : NULL, NULL, v);
}

static void release_route(MSIXEventfdVector *v)
{
    MSIXEventfds *s = v->s;

    if (v->virq >= 0) {
        s->ops->route_release(s->opaque, v->virq);
        v->virq = -1;
    }
}

/*
 * False if KVM kept the irqfd: the eventfd is still KVM's, so nothing in
 * QEMU may read it, and the vector stays in BYPASS.
 */
static bool detach_irqfd(MSIXEventfdVector *v)
{
    MSIXEventfds *s = v->s;
    Error *err = NULL;

    if (!v->irqfd_attached) {
        return true;
    }
    if (s->ops->irqfd_detach(s->opaque, &v->notifier, v->virq, &err) < 0) {
        v->stats.failures++;
        if (!s->detach_failure_reported) {
            s->detach_failure_reported = true;
            error_report("%s: vector %u: %s; KVM keeps delivering it",
                         s->name, vector_nr(v), error_get_pretty(err));
        }
        error_free(err);
        return false;
    }
    v->irqfd_attached = false;
    v->stats.irqfd_detach++;
    trace_msix_eventfds_irqfd(s->name, vector_nr(v), v->virq, false);
    return true;
}

/* KVM injects @v again, after a fallback */
static void notify_restored(MSIXEventfdVector *v)
{
    MSIXEventfds *s = v->s;

    v->fell_back = false;
    v->stats.restores++;
    trace_msix_eventfds_restored(s->name, vector_nr(v));
    if (s->listener) {
        s->listener->restored(s->listener_opaque, vector_nr(v));
    }
}

static bool attach_irqfd(MSIXEventfdVector *v, Error **errp)
{
    MSIXEventfds *s = v->s;

    if (s->ops->irqfd_attach(s->opaque, &v->notifier, v->virq, errp) < 0) {
        return false;
    }
    v->irqfd_attached = true;
    v->stats.irqfd_attach++;
    trace_msix_eventfds_irqfd(s->name, vector_nr(v), v->virq, true);
    if (v->fell_back) {
        notify_restored(v);
    }
    return true;
}

static void serve_from_main_loop(MSIXEventfdVector *v)
{
    set_state(v, MSIX_EVENTFD_USERSPACE);
    set_userspace_handler(v, true);
}

/* Every fallback, where report_failure() logs only the first */
static void notify_fallback(MSIXEventfdVector *v, Error *err)
{
    MSIXEventfds *s = v->s;
    const char *reason = err ? error_get_pretty(err)
                             : "interrupt controller error";

    v->fell_back = true;
    v->stats.fallbacks++;
    trace_msix_eventfds_fallback(s->name, vector_nr(v), reason);
    if (s->listener) {
        s->listener->fallback(s->listener_opaque, vector_nr(v), reason);
    }
}

/*
 * An MSI that the host may have dropped as a pending vLPI goes out again
 * (msix_eventfds_set_vlpi_resend()): counted and traced here.
 */
static void count_vlpi_resend(MSIXEventfdVector *v)
{
    v->stats.resent++;
    trace_msix_eventfds_vlpi_resend(v->s->name, vector_nr(v));
}

static void fall_back_to_userspace(MSIXEventfdVector *v, Error *err)
{
    bool forwarded = v->s->vlpi_resend && v->irqfd_attached;

    if (!detach_irqfd(v)) {
        error_free(err);
        return;
    }
    release_route(v);
    notify_fallback(v, err);
    report_failure(v, &v->s->failure_reported, err);
    serve_from_main_loop(v);
    if (forwarded) {
        /* Unmasked, so the main loop sends it now */
        count_vlpi_resend(v);
        v->stats.replayed++;
        event_notifier_set(&v->notifier);
    }
}

/*
 * Point @v's route at its message.  False if there is no in-kernel
 * irqchip, or if the route was refused: @v is then served by the main
 * loop.
 */
static bool update_route(MSIXEventfdVector *v)
{
    MSIXEventfds *s = v->s;
    Error *err = NULL;
    bool changed = false;
    int virq;

    if (!s->ops->route_set) {
        return false;
    }
    virq = s->ops->route_set(s->opaque, vector_nr(v), v->virq, v->msg,
                             &changed, &err);
    if (virq < 0) {
        fall_back_to_userspace(v, err);
        return false;
    }
    trace_msix_eventfds_route(s->name, vector_nr(v), virq, changed);
    s->routes_changed |= changed;
    if (v->irqfd_attached && virq != v->virq) {
        /* GICv2m: the SPI comes from the data, so the irqfd moves */
        if (!detach_irqfd(v)) {
            return true;
        }
        set_bit(vector_nr(v), s->deferred);
    }
    if (changed) {
        /* The commit covers it: if the kernel refuses, QEMU serves it */
        set_bit(vector_nr(v), s->deferred);
    }
    v->virq = virq;
    return true;
}

static void msix_eventfds_go_live(MSIXEventfdVector *v)
{
    MSIXEventfds *s = v->s;
    Error *err = NULL;

    if (!v->replay && v->vlpi_maybe_dropped) {
        /* Nothing latched to stand in for it: resend one MSI */
        count_vlpi_resend(v);
        v->replay = true;
    }
    v->vlpi_maybe_dropped = false;
    if (v->replay) {
        /*
         * Hand what was pending back to the eventfd: KVM_IRQFD injects on
         * assign when the count is not zero, and the main loop handler
         * sees it as any other signal.  A signal that arrived since the
         * drain merges with it, so the guest gets exactly one MSI.
         */
        v->replay = false;
        v->stats.replayed++;
        v->stats.coalesced += v->signals ? v->signals - 1 : 0;
        v->signals = 0;
        trace_msix_eventfds_replay(s->name, vector_nr(v));
        event_notifier_set(&v->notifier);
    }
    if (v->state == MSIX_EVENTFD_BYPASS && !v->irqfd_attached &&
        !attach_irqfd(v, &err)) {
        fall_back_to_userspace(v, err);
    }
}

void msix_eventfds_begin(MSIXEventfds *s)
{
    s->batch++;
}

static void commit_routes(MSIXEventfds *s)
{
    Error *err = NULL;
    unsigned i;

    if (!s->routes_changed) {
        return;
    }
    s->routes_changed = false;
    if (s->ops->routes_commit(s->opaque, &err) >= 0) {
        s->route_commits++;
        trace_msix_eventfds_commit(s->name, true);
        return;
    }
    trace_msix_eventfds_commit(s->name, false);
    /* The kernel has none of this batch's routes: serve them from QEMU */
    for (i = find_first_bit(s->deferred, s->nr); i < s->nr;
         i = find_next_bit(s->deferred, s->nr, i + 1)) {
        if (s->vec[i].state == MSIX_EVENTFD_BYPASS) {
            fall_back_to_userspace(&s->vec[i], err ? error_copy(err) : NULL);
        }
    }
    /*
     * A vector masked again within the batch may hold a route the kernel
     * never took: its unmask would find the route unchanged and attach
     * its irqfd to a stale GSI.  Such vectors set their route again.
     */
    for (i = 0; i < s->nr; i++) {
        if (s->vec[i].state != MSIX_EVENTFD_BYPASS) {
            release_route(&s->vec[i]);
        }
    }
    error_free(err);
}

void msix_eventfds_commit(MSIXEventfds *s)
{
    unsigned i;

    assert(s->batch > 0);
    if (--s->batch) {
        return;
    }
    commit_routes(s);
    for (i = find_first_bit(s->deferred, s->nr); i < s->nr;
         i = find_next_bit(s->deferred, s->nr, i + 1)) {
        clear_bit(i, s->deferred);
        msix_eventfds_go_live(&s->vec[i]);
    }
}

static MSIXEventfdVector *get_vector(MSIXEventfds *s, unsigned vector)
{
    assert(vector < s->nr);
    return &s->vec[vector];
}

static void follow_message(MSIXEventfdVector *v, MSIMessage msg)
{
    if (v->msg.address == msg.address && v->msg.data == msg.data) {
        return;
    }
    v->msg = msg;
    if (v->state == MSIX_EVENTFD_BYPASS) {
        update_route(v);
    }
}

void msix_eventfds_unmask(MSIXEventfds *s, unsigned vector, MSIMessage msg)
{
    MSIXEventfdVector *v = get_vector(s, vector);
    bool pending;

    msix_eventfds_begin(s);
    if (v->state == MSIX_EVENTFD_BYPASS ||
        v->state == MSIX_EVENTFD_USERSPACE) {
        follow_message(v, msg);
        msix_eventfds_commit(s);
        return;
    }

    msix_eventfds_unwatch(v);
    latch_drained(v);
    pending = take_latched(s, vector);
    if (s->ops->take_pending) {
        pending |= s->ops->take_pending(s->opaque, vector);
    }
    v->replay = pending;
    v->msg = msg;

    if (update_route(v)) {
        set_state(v, MSIX_EVENTFD_BYPASS);
    } else if (v->state != MSIX_EVENTFD_USERSPACE) {
        serve_from_main_loop(v);
    }
    set_bit(vector, s->deferred);
    msix_eventfds_commit(s);
}

/*
 * Stop delivering @v: after this, nothing reads its eventfd.  False if
 * KVM kept its irqfd.
 */
static bool msix_eventfds_quiesce(MSIXEventfdVector *v)
{
    MSIXEventfds *s = v->s;

    switch (v->state) {
    case MSIX_EVENTFD_BYPASS:
        if (!detach_irqfd(v)) {
            return false;
        }
        break;
    case MSIX_EVENTFD_USERSPACE:
        set_userspace_handler(v, false);
        break;
    case MSIX_EVENTFD_MASKED:
        msix_eventfds_unwatch(v);
        break;
    case MSIX_EVENTFD_UNUSED:
        break;
    }
    clear_bit(vector_nr(v), s->deferred);
    return true;
}

void msix_eventfds_mask(MSIXEventfds *s, unsigned vector)
{
    MSIXEventfdVector *v = get_vector(s, vector);
    bool forwarded;

    if (v->state == MSIX_EVENTFD_MASKED) {
        return;
    }
    /*
     * A vLPI pending in the vPE when KVM stops forwarding it is dropped,
     * not handed back: remember that this vector may have had one, until
     * it goes live again (it may be masked again before, in one batch).
     */
    forwarded = s->vlpi_resend && v->irqfd_attached;
    if (!msix_eventfds_quiesce(v)) {
        return;
    }
    v->vlpi_maybe_dropped |= forwarded;
    if (v->replay) {
        /* Unmasked and masked again within one batch: keep it pending */
        v->replay = false;
        set_bit_atomic(vector, s->latched);
    }
    set_state(v, MSIX_EVENTFD_MASKED);
    msix_eventfds_watch(v);
}

/*
 * An unused vector's eventfd holds signals only from a host vector the
 * guest no longer enables (a Multiple Message Enable shrink): they belong
 * to no interrupt the guest waits for.
 */
static void drop_unused(MSIXEventfdVector *v)
{
    uint64_t count = msix_eventfds_drain(v);

    if (count) {
        v->stats.dropped += count;
        trace_msix_eventfds_drop(v->s->name, vector_nr(v), count);
    }
}

/* What @v's interrupts went to goes: one MSI if the guest has it @unmasked */
static void release_vector(MSIXEventfdVector *v, bool unmasked)
{
    MSIXEventfds *s = v->s;
    unsigned vector = vector_nr(v);
    bool forwarded = s->vlpi_resend && v->irqfd_attached;
    bool latched, pending, owed, resend;

    if (v->state == MSIX_EVENTFD_UNUSED) {
        drop_unused(v);
        return;
    }
    if (!msix_eventfds_quiesce(v)) {
        /* Its route goes: KVM has nothing to deliver it to */
        release_route(v);
        return;
    }
    release_route(v);
    latch_drained(v);
    /* Both are cleared: neither may come back at the next enable */
    latched = take_latched(s, vector);
    pending = s->ops->take_pending && s->ops->take_pending(s->opaque, vector);
    /*
     * Owed: latched, in the pending bits, or taken from them by an unmask
     * whose batch has not replayed it yet.  Not v->signals alone: those
     * that went into the pending bits and that the PCI core has sent
     * since are not owed any more.  Unmasked, a vLPI that the irqfd's
     * detach (now or at an earlier mask) may have dropped is resent, as
     * at a fallback.
     */
    owed = latched || pending || v->replay;
    resend = unmasked && !owed && (forwarded || v->vlpi_maybe_dropped);
    if (unmasked && (owed || resend)) {
        if (resend) {
            count_vlpi_resend(v);
        }
        v->stats.replayed++;
        v->stats.userspace++;
        v->stats.coalesced += v->signals ? v->signals - 1 : 0;
        trace_msix_eventfds_replay(s->name, vector);
        s->ops->deliver(s->opaque, vector);
    } else if (unmasked) {
        /* Merged into what the PCI core sent from the pending bits */
        v->stats.coalesced += v->signals;
    } else {
        if (owed) {
            v->signals = MAX(v->signals, 1);
        }
        v->stats.dropped += v->signals;
    }
    v->signals = 0;
    v->replay = false;
    v->vlpi_maybe_dropped = false;
    set_state(v, MSIX_EVENTFD_UNUSED);
}

void msix_eventfds_release(MSIXEventfds *s, unsigned vector)
{
    release_vector(get_vector(s, vector), false);
}

void msix_eventfds_release_unmasked(MSIXEventfds *s, unsigned vector)
{
    release_vector(get_vector(s, vector), true);
}

void msix_eventfds_sync_pending(MSIXEventfds *s)
{
    unsigned w;

    for (w = 0; w < BITS_TO_LONGS(s->nr); w++) {
        unsigned long bits = qatomic_xchg(&s->latched[w], 0);

        while (bits) {
            unsigned bit = ctzl(bits);

            bits &= bits - 1;
            s->ops->set_pending(s->opaque, w * BITS_PER_LONG + bit);
        }
    }
}

void msix_eventfds_poll(MSIXEventfds *s, unsigned first, unsigned count)
{
    unsigned i, end = MIN((uint64_t)first + count, s->nr);

    qemu_mutex_lock(&s->lock);
    for (i = first; i < end; i++) {
        msix_eventfds_latch(s, i);
    }
    qemu_mutex_unlock(&s->lock);
    msix_eventfds_sync_pending(s);
}

bool msix_eventfds_latched(MSIXEventfds *s, unsigned vector)
{
    assert(vector < s->nr);
    return qatomic_read(&s->latched[BIT_WORD(vector)]) & BIT_MASK(vector);
}

static void add_stats(MSIXEventfdStats *sum, const MSIXEventfdStats *st)
{
    sum->latched += st->latched;
    sum->replayed += st->replayed;
    sum->userspace += st->userspace;
    sum->coalesced += st->coalesced;
    sum->dropped += st->dropped;
    sum->irqfd_attach += st->irqfd_attach;
    sum->irqfd_detach += st->irqfd_detach;
    sum->failures += st->failures;
    sum->fallbacks += st->fallbacks;
    sum->restores += st->restores;
    sum->pending += st->pending;
    sum->resent += st->resent;
}

void msix_eventfds_get_stats(MSIXEventfds *s, int vector,
                             MSIXEventfdStats *stats)
{
    unsigned i;

    memset(stats, 0, sizeof(*stats));
    qemu_mutex_lock(&s->lock);
    if (vector >= 0) {
        add_stats(stats, &get_vector(s, vector)->stats);
        stats->pending = get_vector(s, vector)->signals;
    } else {
        for (i = 0; i < s->nr; i++) {
            add_stats(stats, &s->vec[i].stats);
            stats->pending += s->vec[i].signals;
        }
        stats->route_commits = s->route_commits;
    }
    qemu_mutex_unlock(&s->lock);
}

void msix_eventfds_set_ops(MSIXEventfds *s, const MSIXEventfdOps *ops)
{
    unsigned i;

    assert(ops && ops->deliver && ops->set_pending);
    for (i = 0; i < s->nr; i++) {
        assert(s->vec[i].state == MSIX_EVENTFD_UNUSED);
    }
    qemu_mutex_lock(&s->lock);
    s->ops = ops;
    qemu_mutex_unlock(&s->lock);
}

void msix_eventfds_set_vlpi_resend(MSIXEventfds *s, bool on)
{
    trace_msix_eventfds_vlpi_resend_set(s->name, on);
    s->vlpi_resend = on;
}

void msix_eventfds_set_listener(MSIXEventfds *s, const MSIXEventfdListener *l,
                                void *opaque)
{
    s->listener = l;
    s->listener_opaque = opaque;
}

int msix_eventfds_virq(MSIXEventfds *s, unsigned vector)
{
    return get_vector(s, vector)->virq;
}

unsigned msix_eventfds_nr(MSIXEventfds *s)
{
    return s->nr;
}

EventNotifier *msix_eventfds_notifier(MSIXEventfds *s, unsigned vector)
{
    return &get_vector(s, vector)->notifier;
}

MSIXEventfdState msix_eventfds_state(MSIXEventfds *s, unsigned vector)
{
    return get_vector(s, vector)->state;
}

static bool init_vectors(MSIXEventfds *s, Error **errp)
{
    ERRP_GUARD();
    unsigned i;
    int ret;

    for (i = 0; i < s->nr; i++) {
        MSIXEventfdVector *v = &s->vec[i];

        v->virq = -1;
        ret = event_notifier_init(&v->notifier, false);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "%s: cannot create the eventfd of "
                             "MSI-X vector %u", s->name, i);
            if (ret == -EMFILE) {
                error_append_hint(errp, "Each vector keeps an eventfd: "
                                  "raise QEMU's open file limit.\n");
            }
            return false;
        }
        v->s = s;
    }
    return true;
}

static bool start_poller(MSIXEventfds *s, Error **errp)
{
    int ret;

    s->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (s->epfd < 0) {
        error_setg_errno(errp, errno, "%s: cannot create the MSI-X poller",
                         s->name);
        return false;
    }
    ret = event_notifier_init(&s->stop, false);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "%s: cannot create the MSI-X poller",
                         s->name);
        return false;
    }
    if (epoll_add(s, &s->stop, MSIX_EVENTFDS_STOP) < 0) {
        error_setg_errno(errp, errno, "%s: cannot create the MSI-X poller",
                         s->name);
        return false;
    }
    qemu_thread_create(&s->thread, "msix-poller", poller_thread, s,
                       QEMU_THREAD_JOINABLE);
    s->thread_running = true;
    trace_msix_eventfds_poller(s->name, true);
    return true;
}

void msix_eventfds_stop_poller(MSIXEventfds *s)
{
    if (s->thread_running) {
        event_notifier_set(&s->stop);
        qemu_thread_join(&s->thread);
        s->thread_running = false;
        trace_msix_eventfds_poller(s->name, false);
    }
}

MSIXEventfds *msix_eventfds_new(const char *name, unsigned nr,
                                const MSIXEventfdOps *ops, void *opaque,
                                Error **errp)
{
    MSIXEventfds *s = g_new0(MSIXEventfds, 1);

    assert(nr > 0 && ops && ops->deliver && ops->set_pending);
    s->name = g_strdup(name);
    s->nr = nr;
    s->ops = ops;
    s->opaque = opaque;
    s->epfd = -1;
    s->vec = g_new0(MSIXEventfdVector, nr);
    s->latched = bitmap_new(nr);
    s->deferred = bitmap_new(nr);
    qemu_mutex_init(&s->lock);

    if (!init_vectors(s, errp) || !start_poller(s, errp)) {
        msix_eventfds_free(s);
        return NULL;
    }
    return s;
}

void msix_eventfds_free(MSIXEventfds *s)
{
    unsigned i;

    if (!s) {
        return;
    }
    for (i = 0; i < s->nr; i++) {
        if (s->vec[i].s) {
            msix_eventfds_release(s, i);
        }
    }
    msix_eventfds_stop_poller(s);
    for (i = 0; i < s->nr && s->vec[i].s; i++) {
        event_notifier_cleanup(&s->vec[i].notifier);
    }
    event_notifier_cleanup(&s->stop);
    if (s->epfd >= 0) {
        close(s->epfd);
    }
    qemu_mutex_destroy(&s->lock);
    g_free(s->deferred);
    g_free(s->latched);
    g_free(s->vec);
    g_free(s->name);
    g_free(s);
}
