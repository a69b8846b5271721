/*
 * Unit tests of the vfio-pci MSI-X state machine (hw/vfio/msix-engine.c)
 *
 * Copyright (c) 2026 The qemu-vmsix authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/main-loop.h"
#include "msix-model.h"

static void test_table_alloc_mask_unmask(void)
{
    FakeHost *h = host_new(16);
    unsigned irqfds;

    guest_enable(h);
    g_assert_cmpuint(h->set_irqs, ==, 1);
    g_assert_true(vfio_msix_engine_host_vector(h->e, 15));

    set_vector(h, 3, true);
    irqfds = h->f.attaches;
    g_assert_cmpuint(irqfds, ==, 1);

    /* Mask + unmask of an allocated vector: no SET_IRQS, one irqfd each */
    set_vector(h, 3, false);
    set_vector(h, 3, true);
    g_assert_cmpuint(h->set_irqs, ==, 1);
    g_assert_cmpuint(h->f.detaches, ==, 1);
    g_assert_cmpuint(h->f.attaches, ==, irqfds + 1);
    g_assert_cmpuint(h->changed_triggers, ==, 0);

    fake_raise(&h->f, 3);
    g_assert_cmpuint(fake_delivered(&h->f, 3), ==, 1);
    host_free(h);
}

/*
 * vfio-pci maps the PBA only while this holds: no eventfd can latch, and
 * what the device shows is what the guest should read.
 */
static void test_pba_quiet(void)
{
    FakeHost *h = host_new(4);
    unsigned i;

    g_assert_false(vfio_msix_engine_pba_quiet(h->e));
    guest_enable(h);
    g_assert_false(vfio_msix_engine_pba_quiet(h->e));
    for (i = 0; i < 3; i++) {
        set_vector(h, i, true);
    }
    /* Per table, masked vector 3 holds a host trigger: it can latch */
    g_assert_false(vfio_msix_engine_pba_quiet(h->e));
    set_vector(h, 3, true);
    g_assert_true(vfio_msix_engine_pba_quiet(h->e));
    set_vector(h, 1, false);
    g_assert_false(vfio_msix_engine_pba_quiet(h->e));
    set_vector(h, 1, true);
    g_assert_true(vfio_msix_engine_pba_quiet(h->e));
    guest_msix_off(h);
    g_assert_false(vfio_msix_engine_pba_quiet(h->e));
    host_free(h);
}

/* Per vector, masked vectors the host never got cannot latch */
static void test_pba_quiet_per_vector(void)
{
    FakeHost *h = host_new(4);

    guest_enable_alloc(h, VFIO_MSIX_ALLOC_VECTOR);
    g_assert_true(vfio_msix_engine_pba_quiet(h->e));
    set_vector(h, 0, true);
    g_assert_true(vfio_msix_engine_pba_quiet(h->e));
    /* Vector 0 keeps its host trigger while masked */
    set_vector(h, 0, false);
    g_assert_false(vfio_msix_engine_pba_quiet(h->e));
    set_vector(h, 0, true);
    g_assert_true(vfio_msix_engine_pba_quiet(h->e));
    host_free(h);
}

/*
 * Unmasked vectors the host refused have no trigger: the device may show
 * them pending, which the guest must not read.
 */
static void test_pba_quiet_partial_host(void)
{
    FakeHost *h = host_new(4);
    unsigned i;

    h->limit = 2;
    guest_enable(h);
    for (i = 0; i < 4; i++) {
        set_vector(h, i, true);
    }
    g_assert_false(vfio_msix_engine_host_vector(h->e, 3));
    g_assert_false(vfio_msix_engine_pba_quiet(h->e));
    host_free(h);
}

/* Until the batch that enables MSI-X commits, the host's MSI-X is off */
static void test_pba_quiet_waits_for_commit(void)
{
    FakeHost *h = host_new(2);

    vfio_msix_engine_begin(h->e);
    vfio_msix_engine_enable(h->e, VFIO_MSIX_MODE_MSIX, 2,
                            VFIO_MSIX_ALLOC_VECTOR, NULL);
    set_vector(h, 0, true);
    set_vector(h, 1, true);
    g_assert_false(vfio_msix_engine_pba_quiet(h->e));
    vfio_msix_engine_commit(h->e);
    g_assert_true(vfio_msix_engine_pba_quiet(h->e));
    host_free(h);
}

static void test_maskall_toggle(void)
{
    FakeHost *h = host_new(64);
    unsigned i, commits;

    guest_enable(h);
    vfio_msix_engine_begin(h->e);
    for (i = 0; i < 64; i++) {
        set_vector(h, i, true);
    }
    vfio_msix_engine_commit(h->e);
    commits = h->f.commits;
    g_assert_cmpuint(commits, ==, 1);
    g_assert_cmpuint(h->f.attaches, ==, 64);

    /* The function mask set and cleared: one batch each */
    vfio_msix_engine_begin(h->e);
    for (i = 0; i < 64; i++) {
        set_vector(h, i, false);
    }
    vfio_msix_engine_commit(h->e);
    vfio_msix_engine_begin(h->e);
    for (i = 0; i < 64; i++) {
        set_vector(h, i, true);
    }
    vfio_msix_engine_commit(h->e);
    /* Masked and unmasked again: every irqfd detached and attached once */
    g_assert_cmpuint(h->f.detaches, ==, 64);
    g_assert_cmpuint(h->f.attaches, ==, 128);
    for (i = 0; i < 64; i++) {
        g_assert_cmpint(msix_eventfds_state(h->f.s, i), ==,
                        MSIX_EVENTFD_BYPASS);
    }
    g_assert_cmpuint(h->set_irqs, ==, 1);
    g_assert_cmpuint(h->f.commits - commits, <=, 1);
    g_assert_cmpuint(h->changed_triggers, ==, 0);
    host_free(h);
}

static void test_noresize_grow(void)
{
    FakeHost *h = host_new(2048);
    unsigned i;

    guest_enable(h);
    for (i = 0; i < 8; i++) {
        set_vector(h, i, true);
    }
    /* Raised on 0..7 while the guest unmasks vector 1000 */
    fake_raise(&h->f, 2);
    set_vector(h, 1000, true);
    fake_raise(&h->f, 2);
    fake_raise(&h->f, 1000);
    g_assert_cmpuint(h->disables, ==, 0);
    g_assert_cmpuint(h->set_irqs, ==, 1);
    g_assert_cmpuint(fake_delivered(&h->f, 2), ==, 2);
    g_assert_cmpuint(fake_delivered(&h->f, 1000), ==, 1);
    host_free(h);
}

static void test_vector_alloc(void)
{
    FakeHost *h = host_new(16);

    guest_enable_alloc(h, VFIO_MSIX_ALLOC_VECTOR);
    /* MSI-X on in the host, no vector yet */
    g_assert_cmpuint(h->set_irqs, ==, 1);
    g_assert_cmpint(h->mode, ==, VFIO_MSIX_MODE_MSIX);
    g_assert_false(vfio_msix_engine_host_vector(h->e, 5));

    set_vector(h, 5, true);
    g_assert_cmpuint(h->set_irqs, ==, 2);
    g_assert_true(vfio_msix_engine_host_vector(h->e, 5));
    set_vector(h, 5, false);
    set_vector(h, 5, true);
    g_assert_cmpuint(h->set_irqs, ==, 2);

    guest_msix_off(h);
    g_assert_cmpuint(h->disables, ==, 1);
    g_assert_cmpint(h->mode, ==, VFIO_MSIX_MODE_OFF);
    host_free(h);
}

static void test_host_failure(void)
{
    FakeHost *h = host_new(4);
    VFIOMSIXStats st;

    h->fail = true;
    guest_enable(h);
    set_vector(h, 0, true);
    set_vector(h, 1, true);
    vfio_msix_engine_get_stats(h->e, &st);
    /* Asked again at the first unmask only, not at every unmask */
    g_assert_cmpuint(st.host_failures, ==, 2);
    g_assert_cmpint(vfio_msix_engine_host_mode(h->e), ==, VFIO_MSIX_MODE_OFF);
    g_assert_cmpstr(h->refusals->str, ==, "0+4 (cannot enable MSI-X in the "
                    "host: fake: no host vectors left);"
                    "0+4 (cannot enable MSI-X in the "
                    "host: fake: no host vectors left);");

    /* Disable and enable again: retried, and this time it works */
    guest_msix_off(h);
    h->fail = false;
    guest_enable(h);
    g_assert_cmpint(vfio_msix_engine_host_mode(h->e), ==,
                    VFIO_MSIX_MODE_MSIX);
    host_free(h);
}

/*
 * A refusal of the mode that passes before the guest unmasks: the first
 * unmask gets the host's table, and every vector unmasked before it.
 */
static void test_host_failure_passes(void)
{
    FakeHost *h = host_new(4);
    VFIOMSIXStats st;

    h->fail = true;
    guest_enable(h);
    h->fail = false;
    set_vector(h, 0, true);
    g_assert_cmpint(h->mode, ==, VFIO_MSIX_MODE_MSIX);
    set_vector(h, 1, true);
    g_assert_cmpuint(h->set_irqs, ==, 2);
    g_assert_cmpuint(h->f.attaches, ==, 2);
    device_raise(h, 0);
    device_raise(h, 1);
    g_assert_cmpuint(fake_delivered(&h->f, 0), ==, 1);
    g_assert_cmpuint(fake_delivered(&h->f, 1), ==, 1);
    vfio_msix_engine_get_stats(h->e, &st);
    g_assert_cmpuint(st.host_failures, ==, 1);
    g_assert_false(vfio_msix_engine_pba_quiet(h->e));
    host_free(h);
}

/*
 * MSI: the eventfds cover the larger of the two capabilities, and the
 * guest enables fewer vectors (Multiple Message Enable).  All of them go
 * to the host at once, the others stay unused, and the per-vector mask
 * moves eventfds only between KVM and the poller.
 */
static void test_msi_vectors(void)
{
    FakeHost *h = host_new(8);
    unsigned i;

    guest_msi_on(h, 4);
    g_assert_cmpint(h->mode, ==, VFIO_MSIX_MODE_MSI);
    g_assert_cmpuint(h->set_irqs, ==, 1);
    g_assert_cmpuint(h->f.commits, ==, 1);
    for (i = 0; i < 8; i++) {
        g_assert_cmpint(vfio_msix_engine_host_vector(h->e, i), ==, i < 4);
        g_assert_cmpint(msix_eventfds_state(h->f.s, i), ==,
                        i < 4 ? MSIX_EVENTFD_BYPASS : MSIX_EVENTFD_UNUSED);
    }

    /* Masked: latched, then exactly one MSI on unmask */
    set_vector(h, 2, false);
    fake_raise(&h->f, 2);
    fake_raise(&h->f, 2);
    g_assert_cmpuint(fake_delivered(&h->f, 2), ==, 0);
    set_vector(h, 2, true);
    g_assert_cmpuint(fake_delivered(&h->f, 2), ==, 1);
    g_assert_cmpuint(h->set_irqs, ==, 1);
    g_assert_cmpuint(h->changed_triggers, ==, 0);

    /* Off, then MSI-X with every vector and the per-vector policy */
    vfio_msix_engine_disable(h->e);
    g_assert_cmpuint(h->disables, ==, 1);
    guest_enable_alloc(h, VFIO_MSIX_ALLOC_VECTOR);
    set_vector(h, 7, true);
    g_assert_true(vfio_msix_engine_host_vector(h->e, 7));
    g_assert_false(vfio_msix_engine_host_vector(h->e, 0));
    g_assert_cmpuint(h->set_irqs, ==, 3);
    fake_raise(&h->f, 7);
    g_assert_cmpuint(fake_delivered(&h->f, 7), ==, 1);
    g_assert_cmpuint(h->f.duplicates, ==, 0);
    host_free(h);
}

/*
 * Finding: MSI-X Enable cleared (driver unbind, kexec): the host's MSI-X
 * must be off before vfio-pci sets up INTx, even within the config
 * write's batch; and it goes off before the vectors are released, so no
 * signal lands in a released eventfd.
 */
static void test_msix_off_then_intx(void)
{
    FakeHost *h = host_new(4);
    MSIXEventfdStats st;

    guest_enable(h);
    set_vector(h, 0, true);
    guest_msix_off(h);
    g_assert_cmpuint(h->intx_refused, ==, 0);
    g_assert_cmpuint(h->disables, ==, 1);
    g_assert_cmpint(h->state_at_disable, ==, MSIX_EVENTFD_BYPASS);
    g_assert_cmpint(msix_eventfds_state(h->f.s, 0), ==, MSIX_EVENTFD_UNUSED);

    /* What a masked vector had pending when MSI-X went off is dropped */
    guest_enable(h);
    set_vector(h, 1, false);
    fake_raise(&h->f, 1);
    guest_msix_off(h);
    guest_enable(h);
    set_vector(h, 1, true);
    g_assert_cmpuint(fake_delivered(&h->f, 1), ==, 0);
    msix_eventfds_get_stats(h->f.s, 1, &st);
    g_assert_cmpuint(st.dropped, ==, 1);
    host_free(h);
}

/*
 * A vector released by a Multiple Message Enable shrink keeps its host
 * trigger until MSI goes off: what the device sends it meanwhile is
 * dropped at the disable, not replayed at the next enable.
 */
static void test_shrunk_vector_stale(void)
{
    FakeHost *h = host_new(4);
    MSIXEventfdStats st;

    guest_msi_on(h, 4);
    vfio_msix_engine_shrink(h->e, 1);
    h->f.msi_nr = 1;
    device_raise(h, 3);
    vfio_msix_engine_disable(h->e);
    owner_intx_on(h);
    guest_msi_on(h, 4);
    g_assert_cmpuint(fake_delivered(&h->f, 3), ==, 0);
    msix_eventfds_get_stats(h->f.s, 3, &st);
    g_assert_cmpuint(st.dropped, ==, 1);
    g_assert_cmpuint(h->intx_refused, ==, 0);
    host_free(h);
}

/*
 * The device fires the moment the host turns the mode on, before the
 * engine has set up the vectors: a masked vector latches it, an
 * unmasked one delivers it.
 */
static void test_raise_at_enable(void)
{
    FakeHost *h = host_new(2);

    h->raise_at_enable = 0;
    guest_enable(h);
    msix_eventfds_poll(h->f.s, 0, 2);
    g_assert_true(h->f.v[0].pba);
    set_vector(h, 0, true);
    g_assert_cmpuint(fake_delivered(&h->f, 0), ==, 1);

    /* The same with the vector unmasked in the enabling write */
    guest_msix_off(h);
    vfio_msix_engine_begin(h->e);
    vfio_msix_engine_enable(h->e, VFIO_MSIX_MODE_MSIX, 2,
                            VFIO_MSIX_ALLOC_TABLE, NULL);
    set_vector(h, 0, true);
    vfio_msix_engine_commit(h->e);
    g_assert_cmpuint(fake_delivered(&h->f, 0), ==, 2);
    g_assert_cmpuint(h->f.duplicates, ==, 0);
    host_free(h);
}

/* Finding: MSI on, then the guest sets MSI-X Enable: the host follows */
static void test_msi_to_msix(void)
{
    FakeHost *h = host_new(8);

    guest_msi_on(h, 2);
    g_assert_cmpint(h->mode, ==, VFIO_MSIX_MODE_MSI);
    /* vfio_msix_enable(): MSI off, INTx on and off, MSI-X on: one batch */
    vfio_msix_engine_begin(h->e);
    vfio_msix_engine_disable(h->e);
    owner_intx_on(h);
    vfio_msix_engine_enable(h->e, VFIO_MSIX_MODE_MSIX, 8,
                            VFIO_MSIX_ALLOC_TABLE, NULL);
    h->f.msi_nr = 0;
    set_vector(h, 7, true);
    vfio_msix_engine_commit(h->e);
    g_assert_cmpuint(h->intx_refused, ==, 0);
    g_assert_cmpint(h->mode, ==, VFIO_MSIX_MODE_MSIX);
    g_assert_cmpint(vfio_msix_engine_host_mode(h->e), ==,
                    VFIO_MSIX_MODE_MSIX);
    device_raise(h, 7);
    g_assert_cmpuint(fake_delivered(&h->f, 7), ==, 1);

    /* And back: the disable goes to MSI-X's index */
    guest_msi_on(h, 1);
    g_assert_cmpint(h->mode, ==, VFIO_MSIX_MODE_MSI);
    g_assert_cmpuint(h->wrong_index, ==, 0);
    host_free(h);
}

/*
 * Finding: Multiple Message Enable shrunk while MSI is on, with a masked
 * vector latched beyond the new range: released, nothing of it merged.
 */
static void test_msi_shrink(void)
{
    FakeHost *h = host_new(32);
    MSIXEventfdStats st;

    guest_msi_on(h, 32);
    set_vector(h, 5, false);
    device_raise(h, 5);
    while (!msix_eventfds_latched(h->f.s, 5)) {
        qemu_event_wait(&h->f.latched);
        qemu_event_reset(&h->f.latched);
    }
    vfio_msix_engine_shrink(h->e, 1);
    h->f.msi_nr = 1;
    g_assert_cmpuint(vfio_msix_engine_vectors(h->e), ==, 1);
    /* msi_notify() of vector 5 would assert now */
    msix_eventfds_sync_pending(h->f.s);
    g_assert_false(h->f.v[5].pba);
    g_assert_cmpint(msix_eventfds_state(h->f.s, 5), ==, MSIX_EVENTFD_UNUSED);
    msix_eventfds_get_stats(h->f.s, 5, &st);
    g_assert_cmpuint(st.dropped, ==, 1);
    /* Beyond the range now: ignored, no abort */
    set_vector(h, 5, true);
    g_assert_cmpint(msix_eventfds_state(h->f.s, 5), ==, MSIX_EVENTFD_UNUSED);
    host_free(h);
}

/*
 * Finding: MSI on, MSI-X on, MSI on again, then an MSI-X vector notifier:
 * a vector that is not enabled is ignored, not an assertion.
 */
static void test_both_enabled(void)
{
    FakeHost *h = host_new(8);

    guest_msi_on(h, 1);
    guest_enable(h);
    set_vector(h, 1, true);
    g_assert_cmpint(msix_eventfds_state(h->f.s, 1), ==, MSIX_EVENTFD_BYPASS);
    guest_msi_on(h, 1);
    set_vector(h, 1, true);
    g_assert_cmpint(msix_eventfds_state(h->f.s, 1), ==, MSIX_EVENTFD_UNUSED);
    g_assert_cmpint(h->mode, ==, VFIO_MSIX_MODE_MSI);
    g_assert_cmpuint(h->wrong_index, ==, 0);
    host_free(h);
}

/*
 * Finding: the host has fewer vectors than the guest enabled.  The kernel
 * says how many and enables nothing: take those, and the rest are
 * refused once and counted.
 */
static void test_host_partial(void)
{
    FakeHost *h = host_new(8);
    VFIOMSIXStats st;
    unsigned i;

    h->limit = 3;
    guest_enable(h);
    g_assert_cmpuint(h->set_irqs, ==, 2);
    g_assert_cmpint(h->mode, ==, VFIO_MSIX_MODE_MSIX);
    for (i = 0; i < 8; i++) {
        g_assert_cmpint(vfio_msix_engine_host_vector(h->e, i), ==, i < 3);
        set_vector(h, i, true);
    }
    /* Asked again once, at the unmask of vector 3: 3 again */
    g_assert_cmpuint(h->disables, ==, 1);
    g_assert_cmpuint(h->set_irqs, ==, 4);
    vfio_msix_engine_get_stats(h->e, &st);
    g_assert_cmpuint(st.host_refused, ==, 10);
    /* The kernel's "I have 3" is no refusal; the retry succeeded */
    g_assert_cmpuint(st.host_failures, ==, 0);
    /* Only the host's vectors take KVM routes and irqfds */
    g_assert_cmpuint(h->f.attaches, ==, 3);
    g_assert_cmpuint(h->changed_triggers, ==, 0);
    for (i = 3; i < 8; i++) {
        g_assert_cmpint(msix_eventfds_state(h->f.s, i), ==,
                        MSIX_EVENTFD_UNUSED);
    }
    g_assert_cmpstr(h->refusals->str, ==, "3+5 (the host has 3 of the 8 "
                    "MSI-X vectors the guest enabled: vectors 3-7 stay "
                    "silent);3+5 (the host has 3 of the 8 MSI-X vectors "
                    "the guest enabled: vectors 3-7 stay silent);");
    device_raise(h, 2);
    g_assert_cmpuint(fake_delivered(&h->f, 2), ==, 1);
    host_free(h);
}

/*
 * A host that gave part of the table and has the rest by the next unmask
 * of a vector it did not give: the whole table then, with the same
 * triggers, and the live vectors' interrupts neither lost nor doubled.
 */
static void test_host_partial_passes(void)
{
    FakeHost *h = host_new(8);
    VFIOMSIXStats st;
    unsigned i;

    h->limit = 3;
    guest_enable(h);
    for (i = 0; i < 3; i++) {
        set_vector(h, i, true);
    }
    device_raise(h, 1);
    h->limit = 0;
    set_vector(h, 5, false);
    g_assert_cmpuint(h->disables, ==, 0);
    set_vector(h, 4, true);
    g_assert_cmpuint(h->disables, ==, 1);
    g_assert_cmpuint(h->set_irqs, ==, 3);
    for (i = 0; i < 8; i++) {
        g_assert_true(vfio_msix_engine_host_vector(h->e, i));
    }
    g_assert_cmpuint(h->changed_triggers, ==, 0);
    for (i = 5; i < 8; i++) {
        set_vector(h, i, true);
    }
    g_assert_cmpuint(h->set_irqs, ==, 3);
    g_assert_cmpuint(h->f.attaches, ==, 7);
    /* Vector 3, still masked, holds its raise until its unmask */
    for (i = 0; i < 8; i++) {
        device_raise(h, i);
        g_assert_cmpuint(fake_delivered(&h->f, i), ==,
                         (i == 1 ? 2 : i == 3 ? 0 : 1));
    }
    set_vector(h, 3, true);
    g_assert_cmpuint(fake_delivered(&h->f, 3), ==, 1);
    g_assert_cmpuint(h->set_irqs, ==, 3);
    g_assert_true(vfio_msix_engine_pba_quiet(h->e));
    vfio_msix_engine_get_stats(h->e, &st);
    g_assert_cmpuint(st.host_refused, ==, 5);
    host_free(h);
}

/* A host of 3 vectors for a table of 8: 0, 1 and 2 get one, the rest none */
static FakeHost *host_of_three(void)
{
    FakeHost *h = host_new(8);

    h->limit = 3;
    guest_enable(h);
    set_vector(h, 0, true);
    return h;
}

/*
 * The host now has 2 vectors, and the unmask of vector 5, which it
 * refused, asks it again: vector 2 loses its host vector.
 */
static void host_shrinks_to_two(FakeHost *h)
{
    h->limit = 2;
    set_vector(h, 5, true);
    g_assert_false(vfio_msix_engine_host_vector(h->e, 2));
}

/*
 * Fuzzer finding: the host asked again gives fewer vectors than it had
 * (another device took them meanwhile).  The engine asks for what it
 * had, and the rest keep working.  A vector the host cannot give back
 * had an interrupt latched while masked: the PBA shows it (so it is no
 * longer read from the device) and the unmask sends it.
 */
static void test_host_shrinks_at_retry(void)
{
    FakeHost *h = host_of_three();
    MSIXEventfdStats st;

    set_vector(h, 1, true);
    set_vector(h, 2, true);
    set_vector(h, 2, false);
    device_raise(h, 2);
    host_shrinks_to_two(h);
    /* Off, the table: 2 of 8, which it then enables; a warning */
    g_assert_cmpuint(h->disables, ==, 1);
    g_assert_cmpuint(h->set_irqs, ==, 2 + 2);
    g_assert_true(vfio_msix_engine_host_vector(h->e, 1));
    g_assert_false(vfio_msix_engine_host_vector(h->e, 2));
    g_assert_cmpint(msix_eventfds_state(h->f.s, 2), ==, MSIX_EVENTFD_MASKED);
    set_vector(h, 5, false);
    g_assert_false(vfio_msix_engine_pba_quiet(h->e));
    msix_eventfds_poll(h->f.s, 0, 8);
    g_assert_true(h->f.v[2].pba);
    set_vector(h, 2, true);
    g_assert_cmpint(msix_eventfds_state(h->f.s, 2), ==, MSIX_EVENTFD_UNUSED);
    g_assert_false(h->f.v[2].pba);
    msix_eventfds_get_stats(h->f.s, 2, &st);
    g_assert_cmpuint(st.dropped, ==, 0);
    g_assert_cmpuint(st.replayed, ==, 1);
    g_assert_cmpuint(fake_delivered(&h->f, 2), ==, 1);
    set_vector(h, 2, false);
    g_assert_true(vfio_msix_engine_pba_quiet(h->e));
    device_raise(h, 1);
    g_assert_cmpuint(fake_delivered(&h->f, 1), ==, 1);
    host_free(h);
}

/*
 * A vector KVM refused, served by QEMU's main loop, whose host vector
 * goes at a retry before the main loop saw its signal: the signal is
 * still sent, once.
 */
static void test_host_shrinks_userspace(void)
{
    FakeHost *h = host_of_three();
    MSIXEventfdStats st;

    h->f.fail_route = true;
    set_vector(h, 2, true);
    h->f.fail_route = false;
    g_assert_cmpint(msix_eventfds_state(h->f.s, 2), ==,
                    MSIX_EVENTFD_USERSPACE);
    device_raise(h, 2);
    host_shrinks_to_two(h);
    g_assert_cmpint(msix_eventfds_state(h->f.s, 2), ==, MSIX_EVENTFD_UNUSED);
    msix_eventfds_get_stats(h->f.s, 2, &st);
    g_assert_cmpuint(st.dropped, ==, 0);
    g_assert_cmpuint(fake_delivered(&h->f, 2), ==, 1);
    main_loop_wait(true);
    g_assert_cmpuint(fake_delivered(&h->f, 2), ==, 1);
    host_free(h);
}

/*
 * Fuzzer finding: a vector whose host vector went at a retry, latched
 * while masked, whose pending bit the PCI core sends before the engine
 * sees the unmask (MSI: msi_write_config() sends the pending bits, then
 * vfio-pci passes the unmask on).  Its release sends nothing more, and
 * counts the signal as merged into what the core sent.  MSI no longer
 * asks the host again, so this plays MSI's order on an MSI-X table.
 */
static void test_host_shrinks_core_sent(void)
{
    FakeHost *h = host_of_three();
    MSIXEventfdStats st;

    set_vector(h, 2, true);
    set_vector(h, 2, false);
    device_raise(h, 2);
    host_shrinks_to_two(h);
    msix_eventfds_poll(h->f.s, 0, 8);
    g_assert_true(h->f.v[2].pba);
    h->f.v[2].pba = false;
    fake_deliver(&h->f, 2);
    set_vector(h, 2, true);
    g_assert_cmpint(msix_eventfds_state(h->f.s, 2), ==, MSIX_EVENTFD_UNUSED);
    g_assert_cmpuint(fake_delivered(&h->f, 2), ==, 1);
    g_assert_cmpuint(h->f.duplicates, ==, 0);
    msix_eventfds_get_stats(h->f.s, 2, &st);
    g_assert_cmpuint(st.replayed, ==, 0);
    g_assert_cmpuint(st.dropped, ==, 0);
    /* raised 1 = delivered (by the core) + coalesced + dropped + pending */
    g_assert_cmpuint(st.coalesced + st.dropped + st.pending, ==, 1);
    host_free(h);
}

/*
 * Review finding: an unmasked vector whose irqfd KVM forwarded as a vLPI
 * loses its host vector at a retry.  The irqfd's detach may drop the
 * pending vLPI, so the release resends one MSI, as a fallback does.
 */
static void test_host_shrinks_vlpi(void)
{
    FakeHost *h = host_of_three();
    MSIXEventfdStats st;

    msix_eventfds_set_vlpi_resend(h->f.s, true);
    set_vector(h, 2, true);
    g_assert_cmpint(msix_eventfds_state(h->f.s, 2), ==, MSIX_EVENTFD_BYPASS);
    host_shrinks_to_two(h);
    msix_eventfds_get_stats(h->f.s, 2, &st);
    g_assert_cmpuint(st.resent, ==, 1);
    g_assert_cmpuint(h->f.v[2].user_delivered, ==, 1);
    host_free(h);
}

/*
 * Review finding: the unmask of an MSI vector the host refused does not
 * ask again: that would turn the host's MSI off under the live vectors,
 * whose device would meanwhile signal INTx.
 */
static void test_msi_refused_no_retry(void)
{
    FakeHost *h = host_new(8);

    h->limit = 2;
    guest_msi_on(h, 4);
    g_assert_true(vfio_msix_engine_host_vector(h->e, 1));
    g_assert_false(vfio_msix_engine_host_vector(h->e, 2));
    h->limit = 0;
    set_vector(h, 3, false);
    set_vector(h, 3, true);
    g_assert_cmpuint(h->disables, ==, 0);
    g_assert_cmpint(h->mode, ==, VFIO_MSIX_MODE_MSI);
    device_raise(h, 1);
    g_assert_cmpuint(fake_delivered(&h->f, 1), ==, 1);
    host_free(h);
}

/*
 * Fuzzer finding: a vector unmasked with an interrupt latched, whose host
 * vector goes at a retry in the same batch, before the batch's commit
 * replays the interrupt: the release sends it, once.
 */
static void test_host_shrinks_in_batch(void)
{
    FakeHost *h = host_of_three();
    MSIXEventfdStats st;

    set_vector(h, 2, true);
    set_vector(h, 2, false);
    device_raise(h, 2);
    vfio_msix_engine_begin(h->e);
    set_vector(h, 2, true);
    host_shrinks_to_two(h);
    vfio_msix_engine_commit(h->e);
    g_assert_cmpint(msix_eventfds_state(h->f.s, 2), ==, MSIX_EVENTFD_UNUSED);
    g_assert_cmpuint(fake_delivered(&h->f, 2), ==, 1);
    main_loop_wait(true);
    g_assert_cmpuint(fake_delivered(&h->f, 2), ==, 1);
    g_assert_cmpuint(h->f.duplicates, ==, 0);
    msix_eventfds_get_stats(h->f.s, 2, &st);
    g_assert_cmpuint(st.replayed, ==, 1);
    g_assert_cmpuint(st.dropped, ==, 0);
    host_free(h);
}

/*
 * A host vector refused at first unmask is asked for again at each of its
 * unmasks, one call each, and goes live once the host has it.
 */
static void test_vector_refused_again(void)
{
    FakeHost *h = host_new(8);
    VFIOMSIXStats st;

    h->limit = 4;
    guest_enable_alloc(h, VFIO_MSIX_ALLOC_VECTOR);
    set_vector(h, 6, true);
    /* A message change of the unmasked vector is no new unmask */
    set_vector(h, 6, true);
    g_assert_cmpuint(h->set_irqs, ==, 2);
    set_vector(h, 6, false);
    set_vector(h, 6, true);
    g_assert_cmpuint(h->set_irqs, ==, 3);
    vfio_msix_engine_get_stats(h->e, &st);
    g_assert_cmpuint(st.host_refused, ==, 2);
    /* Each refusal is heard, not only the first the log reports */
    set_vector(h, 7, true);
    g_assert_cmpstr(h->refusals->str, ==,
                    "6+1 (cannot allocate host MSI-X vector 6: "
                    "fake: no host vector 6);"
                    "6+1 (cannot allocate host MSI-X vector 6: "
                    "fake: no host vector 6);"
                    "7+1 (cannot allocate host MSI-X vector 7: "
                    "fake: no host vector 7);");
    /* Unmasked together (a function mask cleared): one refusal each time */
    set_vector(h, 6, false);
    set_vector(h, 7, false);
    vfio_msix_engine_begin(h->e);
    set_vector(h, 6, true);
    set_vector(h, 7, true);
    vfio_msix_engine_commit(h->e);
    g_assert_cmpuint(h->set_irqs, ==, 5);
    h->limit = 0;
    set_vector(h, 6, false);
    set_vector(h, 6, true);
    g_assert_cmpuint(h->set_irqs, ==, 6);
    g_assert_true(vfio_msix_engine_host_vector(h->e, 6));
    g_assert_false(vfio_msix_engine_host_vector(h->e, 7));
    device_raise(h, 6);
    g_assert_cmpuint(fake_delivered(&h->f, 6), ==, 1);
    host_free(h);
}

/*
 * Finding: a MASKALL clear with a PBA bit merged and a later signal
 * latched behind it: one pending state, one MSI.  The MSI-X core
 * delivers a pending bit itself after the vector notifier.
 */
static void test_maskall_clear_pending_once(void)
{
    FakeHost *h = host_new(2);

    guest_enable(h);
    set_vector(h, 0, true);
    set_vector(h, 0, false);
    device_raise(h, 0);
    msix_eventfds_poll(h->f.s, 0, 1);
    g_assert_true(h->f.v[0].pba);
    device_raise(h, 0);
    while (!msix_eventfds_latched(h->f.s, 0)) {
        qemu_event_wait(&h->f.latched);
        qemu_event_reset(&h->f.latched);
    }
    vfio_msix_engine_begin(h->e);
    set_vector(h, 0, true);
    if (h->f.v[0].pba) {
        /* msix_handle_mask_update() */
        h->f.v[0].pba = false;
        fake_deliver(&h->f, 0);
    }
    vfio_msix_engine_commit(h->e);
    g_assert_cmpuint(fake_delivered(&h->f, 0), ==, 1);
    g_assert_cmpuint(h->f.duplicates, ==, 0);
    host_free(h);
}

/*
 * Exhaustive small model: every sequence of up to MODEL_DEPTH operations
 * on MODEL_VECTORS vectors, then every vector unmasked in the mode the
 * sequence left on (the model and its checks are msix-model.c's).
 * The operations are the guest's (vector masks, the function mask,
 * message changes, MSI on with one or two vectors, MSI-X on, off, a
 * Multiple Message Enable shrink), the device's raises through the
 * triggers the host holds, and the host's and KVM's results (the next
 * enable gets fewer vectors, route commits refused, a device that fires
 * as soon as the host turns the mode on).  Checked after each
 * operation: the host's IRQ index is the mode's, no call went to the
 * wrong index, INTx was never set up with MSI or MSI-X on, the counters
 * add up.  At the end: no delivery without a raise since the vector's
 * previous one, none with a stale message, and every raise since the
 * last delivery delivered.
 */
#define MODEL_VECTORS 3

enum {
    OP_RAISE,
    OP_MASK,
    OP_UNMASK,
    OP_DATA,                    /* the guest changes the message */
    OP_PER_VECTOR,
};
enum {
    OP_MASKALL = OP_PER_VECTOR * MODEL_VECTORS,
    OP_MSIX_ON,
    OP_MSI_ON_1,
    OP_MSI_ON_2,
    OP_OFF,
    OP_SHRINK,                  /* MSI: Multiple Message Enable to 1 */
    OP_HOST_SHORT,              /* the host has 2 vectors from now on */
    OP_COMMIT_FAIL,             /* KVM refuses route tables from now on */
    OP_PBA_READ,                /* MSI-X PBA or MSI pending bits */
    OP_RAISE_AT_ENABLE,         /* from now on vector 0 fires at enable */
    MODEL_OPS,
};

static void model_op(Model *m, unsigned op)
{
    FakeHost *h = m->h;
    unsigned v = op % MODEL_VECTORS;

    switch (op) {
    case OP_MASKALL:
        m->fmasked = !m->fmasked;
        model_apply_masks(m);
        return;
    case OP_MSIX_ON:
        model_on(m, VFIO_MSIX_MODE_MSIX, MODEL_VECTORS);
        return;
    case OP_MSI_ON_1:
    case OP_MSI_ON_2:
        model_on(m, VFIO_MSIX_MODE_MSI, op == OP_MSI_ON_1 ? 1 : 2);
        return;
    case OP_OFF:
        model_off(m);
        return;
    case OP_SHRINK:
        model_msi_shrink(m, 1);
        return;
    case OP_RAISE_AT_ENABLE:
        h->raise_at_enable = 0;
        return;
    case OP_HOST_SHORT:
        h->limit = 2;
        return;
    case OP_COMMIT_FAIL:
        h->f.fail_commit = true;
        return;
    case OP_PBA_READ:
        model_pba_read(m, 0, m->nr);
        return;
    }
    if (m->mode == VFIO_MSIX_MODE_MSI && op / MODEL_VECTORS != OP_RAISE) {
        /* A write to the MSI capability */
        if (op / MODEL_VECTORS == OP_DATA) {
            /* Allowed while unmasked: MSI may have no mask bits */
            fake_set_msg(&h->f, v, h->f.v[v].msg.data + 16);
        } else {
            m->vmasked[v] = op / MODEL_VECTORS == OP_MASK;
        }
        model_apply_masks(m);
        return;
    }
    switch (op / MODEL_VECTORS) {
    case OP_RAISE:
        model_raise(m, v);
        break;
    case OP_MASK:
    case OP_UNMASK:
        model_msix_mask(m, v, op / MODEL_VECTORS == OP_MASK);
        break;
    case OP_DATA:
        model_msix_data(m, v, h->f.v[v].msg.data + 16);
        break;
    }
}

/* Reports @what, if any, with the sequence that led to it */
static void model_fail(const unsigned *ops, unsigned depth, char *what)
{
    GString *s;
    unsigned i;

    if (!what) {
        return;
    }
    s = g_string_new(NULL);
    for (i = 0; i < depth; i++) {
        g_string_append_printf(s, " %u", ops[i]);
    }
    g_test_message("sequence%s: %s", s->str, what);
    g_string_free(s, true);
    g_free(what);
    g_test_fail();
}

static void model_check(Model *m, const unsigned *ops, unsigned depth)
{
    unsigned i;

    model_on(m, VFIO_MSIX_MODE_MSIX, MODEL_VECTORS);
    for (i = 0; i < depth && !g_test_failed(); i++) {
        model_op(m, ops[i]);
        model_fail(ops, i + 1, model_check_host(m));
        model_fail(ops, i + 1, model_check_counters(m));
    }
    model_settle(m);
    model_fail(ops, depth, model_check_delivery(m));
    model_reset(m);
    model_fail(ops, depth, model_check_counters(m));
    m->sequences++;
}

static void model_walk(Model *m, unsigned *ops, unsigned depth,
                       unsigned max)
{
    unsigned op;

    model_check(m, ops, depth);
    if (depth == max || g_test_failed()) {
        return;
    }
    for (op = 0; op < MODEL_OPS; op++) {
        ops[depth] = op;
        model_walk(m, ops, depth + 1, max);
    }
}

static void test_model(void)
{
    unsigned max = g_test_slow() ? 5 : 4;
    unsigned ops[8];
    Model m;

    model_init(&m, MODEL_VECTORS, true);
    model_walk(&m, ops, 0, max);
    g_test_message("%u sequences of up to %u operations on %u vectors",
                   m.sequences, max, MODEL_VECTORS);
    g_assert_cmpuint(m.h->changed_triggers, ==, 0);
    model_destroy(&m);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qemu_init_main_loop(&error_abort);

    g_test_add_func("/vfio-msix-engine/table/mask-unmask",
                    test_table_alloc_mask_unmask);
    g_test_add_func("/vfio-msix-engine/table/pba-quiet",
                    test_pba_quiet);
    g_test_add_func("/vfio-msix-engine/pba-quiet-per-vector",
                    test_pba_quiet_per_vector);
    g_test_add_func("/vfio-msix-engine/pba-quiet-partial-host",
                    test_pba_quiet_partial_host);
    g_test_add_func("/vfio-msix-engine/pba-quiet-waits-for-commit",
                    test_pba_quiet_waits_for_commit);
    g_test_add_func("/vfio-msix-engine/table/maskall-toggle",
                    test_maskall_toggle);
    g_test_add_func("/vfio-msix-engine/table/noresize-grow",
                    test_noresize_grow);
    g_test_add_func("/vfio-msix-engine/vector/alloc", test_vector_alloc);
    g_test_add_func("/vfio-msix-engine/vector/refused-again",
                    test_vector_refused_again);
    g_test_add_func("/vfio-msix-engine/host-failure", test_host_failure);
    g_test_add_func("/vfio-msix-engine/host-failure-passes",
                    test_host_failure_passes);
    g_test_add_func("/vfio-msix-engine/host-partial", test_host_partial);
    g_test_add_func("/vfio-msix-engine/host-partial-passes",
                    test_host_partial_passes);
    g_test_add_func("/vfio-msix-engine/host-shrinks-at-retry",
                    test_host_shrinks_at_retry);
    g_test_add_func("/vfio-msix-engine/host-shrinks-userspace",
                    test_host_shrinks_userspace);
    g_test_add_func("/vfio-msix-engine/host-shrinks-core-sent",
                    test_host_shrinks_core_sent);
    g_test_add_func("/vfio-msix-engine/host-shrinks-in-batch",
                    test_host_shrinks_in_batch);
    g_test_add_func("/vfio-msix-engine/host-shrinks-vlpi",
                    test_host_shrinks_vlpi);
    g_test_add_func("/vfio-msix-engine/msi-refused-no-retry",
                    test_msi_refused_no_retry);
    g_test_add_func("/vfio-msix-engine/msi/vectors", test_msi_vectors);
    g_test_add_func("/vfio-msix-engine/msi/shrink", test_msi_shrink);
    g_test_add_func("/vfio-msix-engine/mode/msix-off-then-intx",
                    test_msix_off_then_intx);
    g_test_add_func("/vfio-msix-engine/mode/msi-to-msix", test_msi_to_msix);
    g_test_add_func("/vfio-msix-engine/msi/shrunk-vector-stale",
                    test_shrunk_vector_stale);
    g_test_add_func("/vfio-msix-engine/raise-at-enable",
                    test_raise_at_enable);
    g_test_add_func("/vfio-msix-engine/mode/both-enabled",
                    test_both_enabled);
    g_test_add_func("/vfio-msix-engine/maskall-clear-pending-once",
                    test_maskall_clear_pending_once);
    g_test_add_func("/vfio-msix-engine/model", test_model);
    return g_test_run();
}
