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
#include "hw/vfio/msix-engine.h"
#include "msix-fake.h"

/* The host: counts VFIO_DEVICE_SET_IRQS and checks triggers never change */
typedef struct FakeHost {
    Fake f;
    VFIOMSIXEngine *e;
    bool enabled;
    int32_t trigger[FAKE_MAX_VECTORS];
    unsigned set_irqs;
    unsigned disables;
    unsigned changed_triggers;  /* a live trigger replaced */
    bool fail;
} FakeHost;

static int host_set_triggers(void *opaque, unsigned start, unsigned count,
                             const int32_t *fds, Error **errp)
{
    FakeHost *h = opaque;
    unsigned i;

    h->set_irqs++;
    if (h->fail) {
        error_setg(errp, "fake: no host vectors left");
        return -ENOSPC;
    }
    h->enabled = true;
    for (i = 0; i < count; i++) {
        if (h->trigger[start + i] >= 0 && h->trigger[start + i] != fds[i]) {
            h->changed_triggers++;
        }
        h->trigger[start + i] = fds[i];
    }
    return 0;
}

static void host_disable(void *opaque)
{
    FakeHost *h = opaque;
    unsigned i;

    h->disables++;
    h->enabled = false;
    for (i = 0; i < FAKE_MAX_VECTORS; i++) {
        h->trigger[i] = -1;
    }
}

static const VFIOMSIXHostOps host_ops = {
    .set_triggers = host_set_triggers,
    .disable = host_disable,
};

static FakeHost *host_new(unsigned nr, VFIOMSIXAlloc alloc)
{
    FakeHost *h = g_new0(FakeHost, 1);
    unsigned i;

    for (i = 0; i < FAKE_MAX_VECTORS; i++) {
        h->trigger[i] = -1;
    }
    fake_init(&h->f, nr, true);
    h->e = vfio_msix_engine_new("fake", h->f.s, alloc, &host_ops, h);
    return h;
}

static void host_free(FakeHost *h)
{
    /* The engine frees the eventfds */
    vfio_msix_engine_free(h->e);
    h->f.s = NULL;
    qemu_event_destroy(&h->f.latched);
    qemu_mutex_destroy(&h->f.lock);
    g_free(h);
}

static void set_vector(FakeHost *h, unsigned vector, bool unmasked)
{
    vfio_msix_engine_set_vector(h->e, vector, unmasked, h->f.v[vector].msg);
}

/* Linux's pci_enable_msix(): enable with every vector masked */
static void guest_enable(FakeHost *h)
{
    vfio_msix_engine_set_enabled(h->e, true);
}

static void test_table_alloc_mask_unmask(void)
{
    FakeHost *h = host_new(16, VFIO_MSIX_ALLOC_TABLE);
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

static void test_maskall_toggle(void)
{
    FakeHost *h = host_new(64, VFIO_MSIX_ALLOC_TABLE);
    unsigned i, commits;

    guest_enable(h);
    vfio_msix_engine_begin(h->e);
    for (i = 0; i < 64; i++) {
        set_vector(h, i, true);
    }
    vfio_msix_engine_commit(h->e);
    commits = h->f.commits;
    g_assert_cmpuint(commits, ==, 1);

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
    g_assert_cmpuint(h->set_irqs, ==, 1);
    g_assert_cmpuint(h->f.commits - commits, <=, 1);
    g_assert_cmpuint(h->changed_triggers, ==, 0);
    host_free(h);
}

static void test_noresize_grow(void)
{
    FakeHost *h = host_new(2048, VFIO_MSIX_ALLOC_TABLE);
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
    FakeHost *h = host_new(16, VFIO_MSIX_ALLOC_VECTOR);

    guest_enable(h);
    /* MSI-X on in the host, no vector yet */
    g_assert_cmpuint(h->set_irqs, ==, 1);
    g_assert_true(h->enabled);
    g_assert_false(vfio_msix_engine_host_vector(h->e, 5));

    set_vector(h, 5, true);
    g_assert_cmpuint(h->set_irqs, ==, 2);
    g_assert_true(vfio_msix_engine_host_vector(h->e, 5));
    set_vector(h, 5, false);
    set_vector(h, 5, true);
    g_assert_cmpuint(h->set_irqs, ==, 2);

    vfio_msix_engine_set_enabled(h->e, false);
    g_assert_cmpuint(h->disables, ==, 1);
    g_assert_false(h->enabled);
    host_free(h);
}

static void test_host_failure(void)
{
    FakeHost *h = host_new(4, VFIO_MSIX_ALLOC_TABLE);
    VFIOMSIXStats st;

    h->fail = true;
    guest_enable(h);
    set_vector(h, 0, true);
    set_vector(h, 1, true);
    vfio_msix_engine_get_stats(h->e, &st);
    /* Refused once, not retried on every unmask */
    g_assert_cmpuint(st.host_failures, ==, 1);
    g_assert_false(vfio_msix_engine_host_enabled(h->e));

    /* Disable and enable again: retried, and this time it works */
    vfio_msix_engine_set_enabled(h->e, false);
    h->fail = false;
    guest_enable(h);
    g_assert_true(vfio_msix_engine_host_enabled(h->e));
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
    FakeHost *h = host_new(8, VFIO_MSIX_ALLOC_VECTOR);
    unsigned i;

    vfio_msix_engine_set_vectors(h->e, 4, VFIO_MSIX_ALLOC_TABLE);
    vfio_msix_engine_begin(h->e);
    guest_enable(h);
    for (i = 0; i < 4; i++) {
        set_vector(h, i, true);
    }
    vfio_msix_engine_commit(h->e);
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
    vfio_msix_engine_set_enabled(h->e, false);
    g_assert_cmpuint(h->disables, ==, 1);
    vfio_msix_engine_set_vectors(h->e, 8, VFIO_MSIX_ALLOC_VECTOR);
    guest_enable(h);
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
 * Exhaustive small model: every sequence of up to MODEL_DEPTH operations
 * on MODEL_VECTORS vectors, then unmask all.  No delivery may come
 * without a raise since the vector's previous one, none may carry a stale
 * message, and at the end every vector raised since its last delivery
 * must have been delivered.
 */
#define MODEL_VECTORS 3

enum {
    OP_RAISE,
    OP_MASK,
    OP_UNMASK,
    OP_DATA,                    /* the guest changes the message */
    OP_PER_VECTOR,
};
#define MODEL_OPS (OP_PER_VECTOR * MODEL_VECTORS + 1)   /* + MASKALL */

typedef struct Model {
    FakeHost *h;
    bool vmasked[MODEL_VECTORS];
    bool fmasked;
    unsigned sequences;
} Model;

static void model_apply_masks(Model *m, bool batch)
{
    unsigned i;

    if (batch) {
        vfio_msix_engine_begin(m->h->e);
    }
    for (i = 0; i < MODEL_VECTORS; i++) {
        set_vector(m->h, i, !m->vmasked[i] && !m->fmasked);
    }
    if (batch) {
        vfio_msix_engine_commit(m->h->e);
    }
}

static void model_op(Model *m, unsigned op)
{
    FakeHost *h = m->h;
    unsigned v = op % MODEL_VECTORS;

    if (op == MODEL_OPS - 1) {
        m->fmasked = !m->fmasked;
        model_apply_masks(m, true);
        return;
    }
    switch (op / MODEL_VECTORS) {
    case OP_RAISE:
        fake_raise(&h->f, v);
        break;
    case OP_MASK:
        m->vmasked[v] = true;
        set_vector(h, v, false);
        break;
    case OP_UNMASK:
        m->vmasked[v] = false;
        if (!m->fmasked) {
            set_vector(h, v, true);
        }
        break;
    case OP_DATA:
        /* Only while masked: the spec leaves other changes undefined */
        if (m->vmasked[v] || m->fmasked) {
            fake_set_msg(&h->f, v, h->f.v[v].msg.data + 16);
        }
        break;
    }
}

static void model_check(Model *m, const unsigned *ops, unsigned depth)
{
    FakeHost *h = m->h;
    unsigned i;

    vfio_msix_engine_set_enabled(h->e, true);
    memset(m->vmasked, 0, sizeof(m->vmasked));
    m->fmasked = false;
    model_apply_masks(m, false);
    for (i = 0; i < depth; i++) {
        model_op(m, ops[i]);
    }
    memset(m->vmasked, 0, sizeof(m->vmasked));
    m->fmasked = false;
    model_apply_masks(m, true);

    if (h->f.duplicates || h->f.wrong_data || fake_undelivered(&h->f)) {
        GString *s = g_string_new(NULL);

        for (i = 0; i < depth; i++) {
            g_string_append_printf(s, " %u", ops[i]);
        }
        g_test_message("sequence%s: %u duplicates, %u stale messages, "
                       "%" PRIu64 " vectors undelivered", s->str,
                       h->f.duplicates, h->f.wrong_data,
                       fake_undelivered(&h->f));
        g_string_free(s, true);
        g_test_fail();
    }
    vfio_msix_engine_set_enabled(h->e, false);
    h->f.duplicates = h->f.wrong_data = 0;
    for (i = 0; i < MODEL_VECTORS; i++) {
        h->f.v[i].since = 0;
    }
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
    Model m = { .h = host_new(MODEL_VECTORS, VFIO_MSIX_ALLOC_TABLE) };

    model_walk(&m, ops, 0, max);
    g_test_message("%u sequences of up to %u operations on %u vectors",
                   m.sequences, max, MODEL_VECTORS);
    g_assert_cmpuint(m.h->changed_triggers, ==, 0);
    host_free(m.h);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qemu_init_main_loop(&error_abort);

    g_test_add_func("/vfio-msix-engine/table/mask-unmask",
                    test_table_alloc_mask_unmask);
    g_test_add_func("/vfio-msix-engine/table/maskall-toggle",
                    test_maskall_toggle);
    g_test_add_func("/vfio-msix-engine/table/noresize-grow",
                    test_noresize_grow);
    g_test_add_func("/vfio-msix-engine/vector/alloc", test_vector_alloc);
    g_test_add_func("/vfio-msix-engine/host-failure", test_host_failure);
    g_test_add_func("/vfio-msix-engine/msi/vectors", test_msi_vectors);
    g_test_add_func("/vfio-msix-engine/model", test_model);
    return g_test_run();
}
