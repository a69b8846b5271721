/*
 * Unit tests of the eventfd-backed MSI-X vectors (hw/pci/msix-eventfd.c)
 *
 * Copyright (c) 2026 The qemu-vmsix authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/main-loop.h"
#include "msix-fake.h"

static MSIMessage msg_of(Fake *f, unsigned vector)
{
    return f->v[vector].msg;
}

static void unmask(Fake *f, unsigned vector)
{
    msix_eventfds_unmask(f->s, vector, msg_of(f, vector));
}

/* Wait for the poller to latch @vector: it signals f->latched. */
static void wait_latched(Fake *f, unsigned vector)
{
    while (!msix_eventfds_latched(f->s, vector)) {
        qemu_event_wait(&f->latched);
        qemu_event_reset(&f->latched);
    }
}

/* Raise @vector and run the main loop until it delivered @count MSIs */
static void raise_via_main_loop(Fake *f, unsigned vector, uint64_t count)
{
    fake_raise(f, vector);
    while (f->v[vector].user_delivered < count) {
        main_loop_wait(false);
    }
    g_assert_cmpuint(f->v[vector].user_delivered, ==, count);
}

static void stats_of(Fake *f, int vector, MSIXEventfdStats *st)
{
    msix_eventfds_get_stats(f->s, vector, st);
}

static void test_unmask_mask_costs(void)
{
    Fake f;
    MSIXEventfdStats st;

    fake_init(&f, 4, true);
    msix_eventfds_mask(f.s, 0);
    g_assert_cmpint(msix_eventfds_state(f.s, 0), ==, MSIX_EVENTFD_MASKED);

    unmask(&f, 0);
    g_assert_cmpint(msix_eventfds_state(f.s, 0), ==, MSIX_EVENTFD_BYPASS);
    g_assert_cmpuint(f.commits, ==, 1);
    g_assert_cmpuint(f.attaches, ==, 1);

    /* Mask and unmask with the same message: no route commit */
    msix_eventfds_mask(f.s, 0);
    g_assert_cmpuint(f.detaches, ==, 1);
    unmask(&f, 0);
    g_assert_cmpuint(f.commits, ==, 1);
    g_assert_cmpuint(f.attaches, ==, 2);

    /* A raise while unmasked goes through the irqfd */
    fake_raise(&f, 0);
    g_assert_cmpuint(f.v[0].kernel_delivered, ==, 1);
    g_assert_cmpuint(f.v[0].user_delivered, ==, 0);

    stats_of(&f, 0, &st);
    g_assert_cmpuint(st.irqfd_attach, ==, 2);
    g_assert_cmpuint(st.irqfd_detach, ==, 1);
    g_assert_cmpuint(st.replayed, ==, 0);
    g_assert_cmpuint(f.duplicates, ==, 0);
    fake_cleanup(&f);
}

static void test_masked_raises_replayed_once(void)
{
    Fake f;
    MSIXEventfdStats st;
    int i;

    fake_init(&f, 4, true);
    unmask(&f, 1);
    msix_eventfds_mask(f.s, 1);
    for (i = 0; i < 5; i++) {
        fake_raise(&f, 1);
    }
    wait_latched(&f, 1);
    g_assert_cmpuint(fake_delivered(&f, 1), ==, 0);

    /* The guest reads the PBA */
    msix_eventfds_sync_pending(f.s);
    g_assert_true(f.v[1].pba);
    g_assert_false(f.v[0].pba);

    unmask(&f, 1);
    g_assert_cmpuint(fake_delivered(&f, 1), ==, 1);
    g_assert_false(f.v[1].pba);
    g_assert_cmpuint(fake_undelivered(&f), ==, 0);

    stats_of(&f, 1, &st);
    g_assert_cmpuint(st.latched, ==, 5);
    g_assert_cmpuint(st.replayed, ==, 1);
    g_assert_cmpuint(st.coalesced, ==, 4);

    /* Nothing pending: the next unmask injects nothing */
    msix_eventfds_mask(f.s, 1);
    unmask(&f, 1);
    g_assert_cmpuint(fake_delivered(&f, 1), ==, 1);
    g_assert_cmpuint(f.duplicates, ==, 0);
    fake_cleanup(&f);
}

/*
 * With vLPIs (GICv4) the host drops what was pending in the vPE when it
 * stops forwarding a vector: each unmask of a vector masked while its
 * irqfd was attached sends one MSI, and only then.
 */
static void test_vlpi_resend(void)
{
    Fake f;
    MSIXEventfdStats st;

    fake_init(&f, 2, true);
    unmask(&f, 0);

    /* Off (the default): nothing pending, nothing sent */
    msix_eventfds_mask(f.s, 0);
    unmask(&f, 0);
    g_assert_cmpuint(fake_delivered(&f, 0), ==, 0);

    msix_eventfds_set_vlpi_resend(f.s, true);
    /* Forwarded when masked: one MSI at the unmask, spurious here */
    msix_eventfds_mask(f.s, 0);
    unmask(&f, 0);
    g_assert_cmpuint(fake_delivered(&f, 0), ==, 1);
    g_assert_cmpuint(f.duplicates, ==, 1);

    /* Raised while masked: the latched signal is that one MSI */
    msix_eventfds_mask(f.s, 0);
    fake_raise(&f, 0);
    wait_latched(&f, 0);
    unmask(&f, 0);
    g_assert_cmpuint(fake_delivered(&f, 0), ==, 2);
    g_assert_cmpuint(f.duplicates, ==, 1);

    /*
     * Masked again before it went live (one batch): still one, and the
     * PBA shows nothing, since nothing is known to be pending
     */
    msix_eventfds_begin(f.s);
    msix_eventfds_mask(f.s, 0);
    unmask(&f, 0);
    msix_eventfds_mask(f.s, 0);
    msix_eventfds_sync_pending(f.s);
    g_assert_false(f.v[0].pba);
    unmask(&f, 0);
    msix_eventfds_commit(f.s);
    g_assert_cmpuint(fake_delivered(&f, 0), ==, 3);

    /* Never forwarded (masked since the enable): nothing to resend */
    msix_eventfds_mask(f.s, 1);
    unmask(&f, 1);
    g_assert_cmpuint(fake_delivered(&f, 1), ==, 0);

    /* Released while masked: nothing comes back at the next enable */
    msix_eventfds_mask(f.s, 0);
    msix_eventfds_release(f.s, 0);
    unmask(&f, 0);
    g_assert_cmpuint(fake_delivered(&f, 0), ==, 3);

    stats_of(&f, 0, &st);
    g_assert_cmpuint(st.resent, ==, 2);
    g_assert_cmpuint(st.replayed, ==, 3);
    fake_cleanup(&f);
}

static void test_raise_before_poller_is_not_lost(void)
{
    Fake f;

    /* Raised while masked, unmasked before the poller may have run */
    fake_init(&f, 2, true);
    msix_eventfds_mask(f.s, 0);
    fake_raise(&f, 0);
    unmask(&f, 0);
    g_assert_cmpuint(fake_delivered(&f, 0), ==, 1);
    g_assert_cmpuint(f.duplicates, ==, 0);
    fake_cleanup(&f);
}

/*
 * The unmask takes what the eventfd holds into the pending state: KVM
 * gets the eventfd with the one replay in it and nothing older.  With
 * the poller stopped, only the unmask's drain can read the raises.
 */
static void test_unmask_drains_eventfd(void)
{
    Fake f;
    MSIXEventfdStats st;

    fake_init(&f, 1, true);
    msix_eventfds_stop_poller(f.s);
    msix_eventfds_mask(f.s, 0);
    fake_raise(&f, 0);
    fake_raise(&f, 0);
    fake_raise(&f, 0);
    unmask(&f, 0);
    g_assert_true(f.v[0].attached);
    g_assert_cmpuint(f.v[0].attach_count, ==, 1);
    g_assert_cmpuint(fake_delivered(&f, 0), ==, 1);
    stats_of(&f, 0, &st);
    g_assert_cmpuint(st.latched, ==, 3);
    g_assert_cmpuint(st.replayed, ==, 1);
    g_assert_cmpuint(st.coalesced, ==, 2);
    fake_cleanup(&f);
}

static void test_batch_commits_once(void)
{
    Fake f;
    unsigned i;

    fake_init(&f, 64, true);
    msix_eventfds_begin(f.s);
    for (i = 0; i < 64; i++) {
        unmask(&f, i);
        /* irqfds are attached only once the routes are committed */
        g_assert_cmpuint(f.attaches, ==, 0);
    }
    msix_eventfds_commit(f.s);
    g_assert_cmpuint(f.commits, ==, 1);
    g_assert_cmpuint(f.attaches, ==, 64);

    /* A function mask toggle with unchanged messages: no commit */
    msix_eventfds_begin(f.s);
    for (i = 0; i < 64; i++) {
        msix_eventfds_mask(f.s, i);
    }
    msix_eventfds_commit(f.s);
    msix_eventfds_begin(f.s);
    for (i = 0; i < 64; i++) {
        unmask(&f, i);
    }
    msix_eventfds_commit(f.s);
    g_assert_cmpuint(f.commits, ==, 1);
    g_assert_cmpuint(f.attaches, ==, 128);
    g_assert_cmpuint(f.detaches, ==, 64);
    fake_cleanup(&f);
}

static void test_route_failure_falls_back(void)
{
    Fake f;
    MSIXEventfdStats st;

    fake_init(&f, 2, true);
    f.fail_route = true;
    msix_eventfds_mask(f.s, 0);
    unmask(&f, 0);
    g_assert_cmpint(msix_eventfds_state(f.s, 0), ==, MSIX_EVENTFD_USERSPACE);

    /* Served from the main loop */
    raise_via_main_loop(&f, 0, 1);

    /* The next unmask retries, fails again: counted, not lost */
    msix_eventfds_mask(f.s, 0);
    unmask(&f, 0);
    stats_of(&f, 0, &st);
    g_assert_cmpuint(st.failures, ==, 2);
    g_assert_cmpuint(st.userspace, ==, 1);

    /* ...and succeeds once the table has room again */
    f.fail_route = false;
    msix_eventfds_mask(f.s, 0);
    unmask(&f, 0);
    g_assert_cmpint(msix_eventfds_state(f.s, 0), ==, MSIX_EVENTFD_BYPASS);
    g_assert_cmpuint(f.duplicates, ==, 0);
    fake_cleanup(&f);
}

/*
 * A full route table refuses every vector: one report for the device,
 * each refusal counted.  Run in a subprocess to see what it prints.
 */
static void test_route_failures_reported_once(void)
{
    Fake f;
    MSIXEventfdStats st;
    unsigned i;

    if (!g_test_subprocess()) {
        g_test_trap_subprocess(NULL, 0, 0);
        g_test_trap_assert_passed();
        g_test_trap_assert_stderr("*vector 0: *go through QEMU*");
        g_test_trap_assert_stderr_unmatched("*vector 1: *");
        g_test_trap_assert_stderr_unmatched("*vector 7: *");
        return;
    }
    fake_init(&f, 8, true);
    f.fail_route = true;
    for (i = 0; i < 8; i++) {
        msix_eventfds_mask(f.s, i);
        unmask(&f, i);
        g_assert_cmpint(msix_eventfds_state(f.s, i), ==,
                        MSIX_EVENTFD_USERSPACE);
    }
    stats_of(&f, -1, &st);
    g_assert_cmpuint(st.failures, ==, 8);
    fake_cleanup(&f);
}

static void test_commit_failure_falls_back(void)
{
    Fake f;
    MSIXEventfdStats st;
    unsigned i;

    fake_init(&f, 3, true);
    f.fail_commit = true;
    msix_eventfds_begin(f.s);
    for (i = 0; i < 3; i++) {
        unmask(&f, i);
    }
    msix_eventfds_commit(f.s);
    for (i = 0; i < 3; i++) {
        g_assert_cmpint(msix_eventfds_state(f.s, i), ==,
                        MSIX_EVENTFD_USERSPACE);
    }
    g_assert_cmpuint(f.attaches, ==, 0);
    stats_of(&f, -1, &st);
    g_assert_cmpuint(st.failures, ==, 3);
    g_assert_cmpuint(st.route_commits, ==, 0);
    fake_cleanup(&f);
}

/*
 * An unmasked vector whose message changes keeps its virq: the route is
 * updated in place.  If the kernel refuses that table, the kernel still
 * routes the vector by the old message, so QEMU must serve it.
 */
static void test_commit_failure_in_place(void)
{
    Fake f;
    MSIXEventfdStats st;

    fake_init(&f, 1, true);
    unmask(&f, 0);
    g_assert_cmpint(msix_eventfds_state(f.s, 0), ==, MSIX_EVENTFD_BYPASS);
    f.fail_commit = true;
    fake_set_msg(&f, 0, 7);
    unmask(&f, 0);
    g_assert_cmpint(msix_eventfds_state(f.s, 0), ==, MSIX_EVENTFD_USERSPACE);
    stats_of(&f, 0, &st);
    g_assert_cmpuint(st.failures, ==, 1);
    raise_via_main_loop(&f, 0, 1);
    g_assert_cmpuint(f.wrong_data, ==, 0);

    /* KVM takes tables again: the next unmask hands it back */
    f.fail_commit = false;
    msix_eventfds_mask(f.s, 0);
    unmask(&f, 0);
    g_assert_cmpint(msix_eventfds_state(f.s, 0), ==, MSIX_EVENTFD_BYPASS);
    fake_raise(&f, 0);
    g_assert_cmpuint(f.v[0].last_data, ==, 7);
    g_assert_cmpuint(f.wrong_data, ==, 0);
    fake_cleanup(&f);
}

/*
 * Fuzzer finding: a vector unmasked and masked again within a batch whose
 * route commit the kernel refuses held a route the kernel never took.
 * With KVM taking tables again, its unmask found that route unchanged,
 * committed nothing and attached its irqfd to a GSI with no message.
 */
static void test_commit_failure_masked_in_batch(void)
{
    Fake f;

    fake_init(&f, 2, true);
    f.fail_commit = true;
    msix_eventfds_begin(f.s);
    unmask(&f, 0);
    unmask(&f, 1);
    msix_eventfds_mask(f.s, 1);
    msix_eventfds_commit(f.s);
    g_assert_cmpint(msix_eventfds_state(f.s, 0), ==, MSIX_EVENTFD_USERSPACE);
    g_assert_cmpint(msix_eventfds_state(f.s, 1), ==, MSIX_EVENTFD_MASKED);

    f.fail_commit = false;
    unmask(&f, 1);
    g_assert_cmpint(msix_eventfds_state(f.s, 1), ==, MSIX_EVENTFD_BYPASS);
    fake_raise(&f, 1);
    g_assert_cmpuint(fake_delivered(&f, 1), ==, 1);
    g_assert_cmpuint(f.wrong_data, ==, 0);
    fake_cleanup(&f);
}

/*
 * With vLPIs, a refused commit that takes an unmasked vector's irqfd away
 * drops what the vPE had pending too: the main loop resends one MSI.
 */
static void test_vlpi_resend_on_fallback(void)
{
    Fake f;
    MSIXEventfdStats st;
    int i;

    fake_init(&f, 1, true);
    msix_eventfds_set_vlpi_resend(f.s, true);
    unmask(&f, 0);
    f.fail_commit = true;
    fake_set_msg(&f, 0, 7);
    unmask(&f, 0);
    g_assert_cmpint(msix_eventfds_state(f.s, 0), ==, MSIX_EVENTFD_USERSPACE);
    /* The resend is in the eventfd already: no waiting */
    for (i = 0; i < 10 && !f.v[0].user_delivered; i++) {
        main_loop_wait(true);
    }
    g_assert_cmpuint(f.v[0].user_delivered, ==, 1);
    stats_of(&f, 0, &st);
    g_assert_cmpuint(st.resent, ==, 1);
    g_assert_cmpuint(st.replayed, ==, 1);
    /* and the vector is served normally after that */
    raise_via_main_loop(&f, 0, 2);
    fake_cleanup(&f);
}

/*
 * KVM keeps an irqfd it was asked to let go: the eventfd is still KVM's,
 * so neither the poller nor the main loop may read it.
 */
static void test_detach_failure_stays_bypass(void)
{
    Fake f;
    MSIXEventfdStats st;

    fake_init(&f, 1, true);
    unmask(&f, 0);
    f.fail_detach = true;
    msix_eventfds_mask(f.s, 0);
    g_assert_cmpint(msix_eventfds_state(f.s, 0), ==, MSIX_EVENTFD_BYPASS);
    g_assert_true(f.v[0].attached);
    fake_raise(&f, 0);
    g_assert_cmpuint(f.v[0].kernel_delivered, ==, 1);
    stats_of(&f, 0, &st);
    g_assert_cmpuint(st.failures, ==, 1);
    g_assert_cmpuint(st.latched, ==, 0);

    /* KVM lets go at last: masked as usual */
    f.fail_detach = false;
    msix_eventfds_mask(f.s, 0);
    g_assert_cmpint(msix_eventfds_state(f.s, 0), ==, MSIX_EVENTFD_MASKED);
    fake_cleanup(&f);
}

static void test_attach_failure_falls_back(void)
{
    Fake f;

    fake_init(&f, 1, true);
    f.fail_attach = true;
    unmask(&f, 0);
    g_assert_cmpint(msix_eventfds_state(f.s, 0), ==, MSIX_EVENTFD_USERSPACE);
    g_assert_cmpuint(f.route_releases, ==, 1);
    raise_via_main_loop(&f, 0, 1);
    fake_cleanup(&f);
}

/* What the monitor's events would say: every move, in order */
typedef struct Heard {
    GString *log;
} Heard;

static void heard_fallback(void *opaque, unsigned vector, const char *reason)
{
    Heard *h = opaque;

    g_string_append_printf(h->log, "fallback %u (%s);", vector, reason);
}

static void heard_restored(void *opaque, unsigned vector)
{
    Heard *h = opaque;

    g_string_append_printf(h->log, "restored %u;", vector);
}

static const MSIXEventfdListener heard_listener = {
    .fallback = heard_fallback,
    .restored = heard_restored,
};

/*
 * Every fallback is heard, with the vector and KVM's reason, where the
 * log gets only the first; the return to KVM is heard once, when the
 * irqfd is attached again; the counters agree.
 */
static void test_listener_route_failure(void)
{
    Heard h = { g_string_new("") };
    MSIXEventfdStats st;
    Fake f;

    fake_init(&f, 2, true);
    msix_eventfds_set_listener(f.s, &heard_listener, &h);
    f.fail_route = true;
    unmask(&f, 1);
    msix_eventfds_mask(f.s, 1);
    unmask(&f, 1);
    g_assert_cmpstr(h.log->str, ==, "fallback 1 (fake: route table full);"
                    "fallback 1 (fake: route table full);");

    f.fail_route = false;
    msix_eventfds_mask(f.s, 1);
    unmask(&f, 1);
    g_assert_cmpint(msix_eventfds_state(f.s, 1), ==, MSIX_EVENTFD_BYPASS);
    /* A vector that never fell back is no news */
    unmask(&f, 0);
    msix_eventfds_mask(f.s, 1);
    unmask(&f, 1);
    g_assert_cmpstr(h.log->str, ==, "fallback 1 (fake: route table full);"
                    "fallback 1 (fake: route table full);restored 1;");
    stats_of(&f, 1, &st);
    g_assert_cmpuint(st.fallbacks, ==, 2);
    g_assert_cmpuint(st.restores, ==, 1);
    g_assert_cmpuint(st.failures, ==, 2);
    stats_of(&f, -1, &st);
    g_assert_cmpuint(st.fallbacks, ==, 2);
    g_assert_cmpuint(st.restores, ==, 1);

    /* Without a listener the counters still count */
    msix_eventfds_set_listener(f.s, NULL, NULL);
    f.fail_route = true;
    msix_eventfds_mask(f.s, 1);
    unmask(&f, 1);
    stats_of(&f, 1, &st);
    g_assert_cmpuint(st.fallbacks, ==, 3);
    g_assert_cmpstr(h.log->str, ==, "fallback 1 (fake: route table full);"
                    "fallback 1 (fake: route table full);restored 1;");
    g_assert_cmpint(msix_eventfds_virq(f.s, 1), ==, -1);
    g_assert_cmpint(msix_eventfds_virq(f.s, 0), >=, 0);
    fake_cleanup(&f);
    g_string_free(h.log, true);
}

/* A refused commit and a refused irqfd are heard like a refused route */
static void test_listener_commit_attach_failure(void)
{
    Heard h = { g_string_new("") };
    Fake f;

    fake_init(&f, 3, true);
    msix_eventfds_set_listener(f.s, &heard_listener, &h);
    f.fail_commit = true;
    msix_eventfds_begin(f.s);
    unmask(&f, 0);
    unmask(&f, 2);
    msix_eventfds_commit(f.s);
    f.fail_commit = false;
    f.fail_attach = true;
    unmask(&f, 1);
    g_assert_cmpstr(h.log->str, ==,
                    "fallback 0 (fake: KVM_SET_GSI_ROUTING refused);"
                    "fallback 2 (fake: KVM_SET_GSI_ROUTING refused);"
                    "fallback 1 (fake: KVM_IRQFD refused);");
    f.fail_attach = false;
    msix_eventfds_mask(f.s, 2);
    unmask(&f, 2);
    g_assert_cmpstr(h.log->str, ==,
                    "fallback 0 (fake: KVM_SET_GSI_ROUTING refused);"
                    "fallback 2 (fake: KVM_SET_GSI_ROUTING refused);"
                    "fallback 1 (fake: KVM_IRQFD refused);restored 2;");
    fake_cleanup(&f);
    g_string_free(h.log, true);
}

static void test_gicv2m_irqfd_follows_data(void)
{
    Fake f;

    fake_init(&f, 1, true);
    f.gicv2m = true;
    fake_set_msg(&f, 0, 5);
    unmask(&f, 0);
    g_assert_cmpint(f.v[0].virq, ==, 1005);

    /* The guest rewrites the data: the irqfd moves to the new SPI */
    fake_set_msg(&f, 0, 9);
    unmask(&f, 0);
    g_assert_cmpint(f.v[0].virq, ==, 1009);
    g_assert_cmpuint(f.detaches, ==, 1);
    fake_raise(&f, 0);
    g_assert_cmpuint(f.v[0].last_data, ==, 9);

    /* Data that names no SPI of the frame: served from userspace */
    fake_set_msg(&f, 0, 60000);
    msix_eventfds_mask(f.s, 0);
    unmask(&f, 0);
    g_assert_cmpint(msix_eventfds_state(f.s, 0), ==, MSIX_EVENTFD_USERSPACE);
    g_assert_cmpuint(f.wrong_data, ==, 0);
    fake_cleanup(&f);
}

static void test_release_drops_pending(void)
{
    Fake f;
    MSIXEventfdStats st;

    fake_init(&f, 1, true);
    msix_eventfds_mask(f.s, 0);
    fake_raise(&f, 0);
    fake_raise(&f, 0);
    msix_eventfds_release(f.s, 0);
    g_assert_cmpint(msix_eventfds_state(f.s, 0), ==, MSIX_EVENTFD_UNUSED);
    stats_of(&f, 0, &st);
    g_assert_cmpuint(st.dropped, ==, 2);

    /* MSI-X enabled again: the old raises are not delivered */
    msix_eventfds_mask(f.s, 0);
    unmask(&f, 0);
    g_assert_cmpuint(fake_delivered(&f, 0), ==, 0);
    fake_cleanup(&f);
}

static void test_userspace_mode(void)
{
    Fake f;

    fake_init(&f, 2, false);
    unmask(&f, 0);
    g_assert_cmpint(msix_eventfds_state(f.s, 0), ==, MSIX_EVENTFD_USERSPACE);
    raise_via_main_loop(&f, 0, 1);

    msix_eventfds_mask(f.s, 0);
    fake_raise(&f, 0);
    wait_latched(&f, 0);
    unmask(&f, 0);
    while (f.v[0].user_delivered < 2) {
        main_loop_wait(false);
    }
    main_loop_wait(true);
    g_assert_cmpuint(f.v[0].user_delivered, ==, 2);
    g_assert_cmpuint(f.duplicates, ==, 0);
    fake_cleanup(&f);
}

/*
 * Stress: raiser threads against random masking from this thread, with
 * the poller latching in between.
 */
#define STRESS_VECTORS 64
#define STRESS_RAISERS 2

typedef struct Stress {
    Fake *f;
    unsigned seed;
    unsigned raises;
} Stress;

static void *raiser_thread(void *opaque)
{
    Stress *st = opaque;
    unsigned i;

    for (i = 0; i < st->raises; i++) {
        fake_raise(st->f, rand_r(&st->seed) % STRESS_VECTORS);
    }
    return NULL;
}

/*
 * What each vector had before a mask operation, to check afterwards what
 * its eventfd held when KVM took it (check_attached()).
 */
typedef struct StressMark {
    unsigned attaches;
    uint64_t signalled;
    uint64_t replayed;
} StressMark;

static void stress_mark(Fake *f, StressMark *m)
{
    MSIXEventfdStats st;
    unsigned i;

    qemu_mutex_lock(&f->lock);
    for (i = 0; i < f->nr; i++) {
        m[i].attaches = f->v[i].vec_attaches;
        m[i].signalled = f->v[i].signalled;
    }
    qemu_mutex_unlock(&f->lock);
    for (i = 0; i < f->nr; i++) {
        stats_of(f, i, &st);
        m[i].replayed = st.replayed;
    }
}

/*
 * After an unmask or a commit, no attached vector's eventfd may hold a
 * stale count.  The eventfd of an attached vector belongs to KVM: it
 * must still hold what it held when KVM took it (nobody in QEMU read or
 * signalled it since), and what it held then may only be the vector's
 * replay and raises since the operation began.  A count older than that
 * is a signal that the unmask never took into the pending state: the
 * PBA and the counters never showed it, and KVM merges it into whatever
 * it injects at assign.
 */
static void check_attached(Fake *f, const StressMark *m)
{
    uint64_t replayed[FAKE_MAX_VECTORS];
    MSIXEventfdStats st;
    unsigned i;

    for (i = 0; i < f->nr; i++) {
        stats_of(f, i, &st);
        replayed[i] = st.replayed - m[i].replayed;
    }
    qemu_mutex_lock(&f->lock);
    for (i = 0; i < f->nr; i++) {
        FakeVector *fv = &f->v[i];

        if (!fv->attached) {
            continue;
        }
        g_assert_cmpuint(fake_eventfd_count(f, i), ==, fv->attach_count);
        if (fv->vec_attaches != m[i].attaches) {
            g_assert_cmpuint(fv->attach_count, <=,
                             fv->attach_signalled - m[i].signalled +
                             replayed[i]);
        }
    }
    qemu_mutex_unlock(&f->lock);
}

static void test_stress(void)
{
    unsigned total = g_test_slow() ? 4000000 : 1000000;
    Stress st[STRESS_RAISERS];
    QemuThread th[STRESS_RAISERS];
    StressMark mark[STRESS_VECTORS];
    Fake *f = g_new(Fake, 1);
    MSIXEventfdStats stats;
    uint64_t raised = 0, delivered = 0, coalesced = 0;
    unsigned seed = 1, i, ops = 0;

    fake_init(f, STRESS_VECTORS, true);
    for (i = 0; i < STRESS_VECTORS; i++) {
        msix_eventfds_mask(f->s, i);
    }
    for (i = 0; i < STRESS_RAISERS; i++) {
        st[i] = (Stress) { f, i + 1, total / STRESS_RAISERS };
        qemu_thread_create(&th[i], "raiser", raiser_thread, &st[i],
                           QEMU_THREAD_JOINABLE);
    }
    /* Mask, unmask, toggle as a batch and read the PBA until done */
    for (;;) {
        unsigned v = rand_r(&seed) % STRESS_VECTORS;
        uint64_t sum = 0;

        stress_mark(f, mark);
        switch (rand_r(&seed) % 4) {
        case 0:
            msix_eventfds_mask(f->s, v);
            break;
        case 1:
            unmask(f, v);
            break;
        case 2:
            msix_eventfds_begin(f->s);
            for (i = 0; i < STRESS_VECTORS; i += 2) {
                msix_eventfds_mask(f->s, i);
            }
            for (i = 0; i < STRESS_VECTORS; i += 2) {
                unmask(f, i);
            }
            msix_eventfds_commit(f->s);
            break;
        case 3:
            msix_eventfds_sync_pending(f->s);
            break;
        }
        check_attached(f, mark);
        ops++;
        for (i = 0; i < STRESS_VECTORS; i++) {
            sum += qatomic_read(&f->v[i].raised);
        }
        if (sum == total) {
            break;
        }
    }
    for (i = 0; i < STRESS_RAISERS; i++) {
        qemu_thread_join(&th[i]);
    }

    /* Storm over: unmask everything; every raise must be accounted for */
    for (i = 0; i < STRESS_VECTORS; i++) {
        stress_mark(f, mark);
        unmask(f, i);
        check_attached(f, mark);
    }
    stats_of(f, -1, &stats);
    for (i = 0; i < STRESS_VECTORS; i++) {
        raised += f->v[i].raised;
        delivered += fake_delivered(f, i);
        coalesced += f->v[i].kernel_coalesced;
    }
    coalesced += stats.coalesced;
    g_test_message("%u raises, %" PRIu64 " MSIs, %" PRIu64 " coalesced, "
                   "%" PRIu64 " latched while masked, %" PRIu64
                   " replayed, %u mask operations",
                   total, delivered, coalesced, stats.latched,
                   stats.replayed, ops);
    g_assert_cmpuint(raised, ==, total);
    g_assert_cmpuint(f->duplicates, ==, 0);
    g_assert_cmpuint(fake_undelivered(f), ==, 0);
    /* Nothing is ever released here, and the poller took part */
    g_assert_cmpuint(stats.dropped, ==, 0);
    g_assert_cmpuint(stats.latched, >, 0);
    g_assert_cmpuint(delivered + coalesced, ==, raised);
    g_assert_cmpuint(stats.failures, ==, 0);
    fake_cleanup(f);
    g_free(f);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qemu_init_main_loop(&error_abort);

    g_test_add_func("/msix-eventfd/unmask-mask-costs",
                    test_unmask_mask_costs);
    g_test_add_func("/msix-eventfd/masked-raises-replayed-once",
                    test_masked_raises_replayed_once);
    g_test_add_func("/msix-eventfd/vlpi-resend", test_vlpi_resend);
    g_test_add_func("/msix-eventfd/vlpi-resend-on-fallback",
                    test_vlpi_resend_on_fallback);
    g_test_add_func("/msix-eventfd/raise-before-poller",
                    test_raise_before_poller_is_not_lost);
    g_test_add_func("/msix-eventfd/unmask-drains-eventfd",
                    test_unmask_drains_eventfd);
    g_test_add_func("/msix-eventfd/batch-commits-once",
                    test_batch_commits_once);
    g_test_add_func("/msix-eventfd/route-failures-reported-once",
                    test_route_failures_reported_once);
    g_test_add_func("/msix-eventfd/route-failure",
                    test_route_failure_falls_back);
    g_test_add_func("/msix-eventfd/commit-failure",
                    test_commit_failure_falls_back);
    g_test_add_func("/msix-eventfd/commit-failure-in-place",
                    test_commit_failure_in_place);
    g_test_add_func("/msix-eventfd/commit-failure-masked-in-batch",
                    test_commit_failure_masked_in_batch);
    g_test_add_func("/msix-eventfd/detach-failure",
                    test_detach_failure_stays_bypass);
    g_test_add_func("/msix-eventfd/attach-failure",
                    test_attach_failure_falls_back);
    g_test_add_func("/msix-eventfd/listener/route-failure",
                    test_listener_route_failure);
    g_test_add_func("/msix-eventfd/listener/commit-attach-failure",
                    test_listener_commit_attach_failure);
    g_test_add_func("/msix-eventfd/gicv2m-follows-data",
                    test_gicv2m_irqfd_follows_data);
    g_test_add_func("/msix-eventfd/release-drops-pending",
                    test_release_drops_pending);
    g_test_add_func("/msix-eventfd/userspace", test_userspace_mode);
    g_test_add_func("/msix-eventfd/stress", test_stress);
    return g_test_run();
}
