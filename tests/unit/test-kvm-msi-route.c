/*
 * Unit tests of the KVM interrupt route table against a fake kernel
 *
 * Copyright (c) 2026 The qemu-vmsix authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "system/kvm-msi-route.h"

typedef struct FakeKVM {
    unsigned int set_gsi_routing;   /* KVM_SET_GSI_ROUTING calls */
    unsigned int last_nr;           /* entries in the last table */
    struct kvm_irq_routing_entry *last; /* and a copy of them */
    int fail_with;                  /* errno to fail the next call with */
} FakeKVM;

static int fake_set_gsi_routing(void *opaque,
                                const struct kvm_irq_routing *routes)
{
    FakeKVM *kvm = opaque;

    kvm->set_gsi_routing++;
    if (kvm->fail_with) {
        int err = kvm->fail_with;

        kvm->fail_with = 0;
        return -err;
    }
    kvm->last_nr = routes->nr;
    g_free(kvm->last);
    kvm->last = g_memdup2(routes->entries,
                          routes->nr * sizeof(routes->entries[0]));
    return 0;
}

/* The entries of @gsi in the last table the fake kernel took */
static unsigned int fake_find(const FakeKVM *kvm, uint32_t gsi,
                              const struct kvm_irq_routing_entry **found,
                              unsigned int max)
{
    unsigned int i, n = 0;

    for (i = 0; i < kvm->last_nr; i++) {
        if (kvm->last[i].gsi == gsi) {
            g_assert_cmpuint(n, <, max);
            found[n++] = &kvm->last[i];
        }
    }
    return n;
}

/*
 * The table compares whole entries, as kvm-all.c's callers zero theirs:
 * a designated initializer of one union member leaves the union's other
 * bytes unspecified (clang does not zero them), so zero the entry first.
 */
static struct kvm_irq_routing_entry zeroed_entry(uint32_t gsi, uint32_t type)
{
    struct kvm_irq_routing_entry e;

    memset(&e, 0, sizeof(e));
    e.gsi = gsi;
    e.type = type;
    return e;
}

static struct kvm_irq_routing_entry msi_entry(uint32_t gsi, uint32_t data,
                                              uint32_t devid)
{
    struct kvm_irq_routing_entry e = zeroed_entry(gsi, KVM_IRQ_ROUTING_MSI);

    e.flags = KVM_MSI_VALID_DEVID;
    e.u.msi.address_lo = 0x08090040;
    e.u.msi.data = data;
    e.u.msi.devid = devid;
    return e;
}

/*
 * x86's KVM_IRQCHIP_PIC_MASTER, KVM_IRQCHIP_PIC_SLAVE and
 * KVM_IRQCHIP_IOAPIC: only x86's <asm/kvm.h> has them, and the table
 * does not care what they mean.
 */
enum {
    X86_PIC_MASTER = 0,
    X86_PIC_SLAVE = 1,
    X86_IOAPIC = 2,
};

static struct kvm_irq_routing_entry irqchip_entry(uint32_t gsi,
                                                  uint32_t irqchip,
                                                  uint32_t pin)
{
    struct kvm_irq_routing_entry e = zeroed_entry(gsi,
                                                  KVM_IRQ_ROUTING_IRQCHIP);

    e.u.irqchip.irqchip = irqchip;
    e.u.irqchip.pin = pin;
    return e;
}

static void table_setup(KVMRouteTable *t, FakeKVM *kvm, unsigned int n)
{
    unsigned int i;

    kvm_route_table_init(t, fake_set_gsi_routing, kvm);
    for (i = 0; i < n; i++) {
        struct kvm_irq_routing_entry e = msi_entry(i, i, 0x100);

        kvm_route_table_add(t, &e);
    }
    g_assert_cmpint(kvm_route_table_commit(t, &error_abort), ==, 0);
    g_assert_cmpuint(kvm->set_gsi_routing, ==, 1);
    g_assert_cmpuint(kvm->last_nr, ==, n);
}

static void table_teardown(KVMRouteTable *t, FakeKVM *kvm)
{
    g_free(t->routes);
    g_free(t->owners);
    g_free(kvm->last);
}

/* N updates that change nothing cost no KVM_SET_GSI_ROUTING */
static void test_unchanged_updates_skip_commit(void)
{
    FakeKVM kvm = {};
    KVMRouteTable t;
    unsigned int i;

    table_setup(&t, &kvm, 32);
    for (i = 0; i < 1000; i++) {
        struct kvm_irq_routing_entry e = msi_entry(i % 32, i % 32, 0x100);

        g_assert_cmpint(kvm_route_table_update(&t, &e), ==, 0);
        g_assert_cmpint(kvm_route_table_commit(&t, &error_abort), ==, 0);
    }
    g_assert_cmpuint(kvm.set_gsi_routing, ==, 1);
    g_assert_cmpuint(t.stats.skipped, ==, 1000);
    g_assert_cmpuint(kvm_route_table_size(&t), ==, 32);
    table_teardown(&t, &kvm);
}

/* A burst of N changes, then one commit: one KVM_SET_GSI_ROUTING */
static void test_batch_commits_once(void)
{
    FakeKVM kvm = {};
    KVMRouteTable t;
    unsigned int i;

    table_setup(&t, &kvm, 32);
    for (i = 0; i < 32; i++) {
        struct kvm_irq_routing_entry e = msi_entry(i, i + 100, 0x100);

        g_assert_cmpint(kvm_route_table_update(&t, &e), ==, 1);
    }
    g_assert_cmpuint(kvm.set_gsi_routing, ==, 1);
    g_assert_cmpint(kvm_route_table_commit(&t, &error_abort), ==, 0);
    g_assert_cmpuint(kvm.set_gsi_routing, ==, 2);
    g_assert_cmpuint(kvm.last_nr, ==, 32);
    g_assert_cmpuint(kvm_route_table_find(&t, 7)->u.msi.data, ==, 107);
    /* and the next commit has nothing to do */
    g_assert_cmpint(kvm_route_table_commit(&t, &error_abort), ==, 0);
    g_assert_cmpuint(kvm.set_gsi_routing, ==, 2);
    table_teardown(&t, &kvm);
}

/* A new DeviceID is a change, even with the same message */
static void test_devid_change_is_a_change(void)
{
    FakeKVM kvm = {};
    KVMRouteTable t;
    struct kvm_irq_routing_entry e = msi_entry(3, 3, 0x500);

    table_setup(&t, &kvm, 4);
    g_assert_cmpint(kvm_route_table_update(&t, &e), ==, 1);
    g_assert_cmpint(kvm_route_table_commit(&t, &error_abort), ==, 0);
    g_assert_cmpuint(kvm.set_gsi_routing, ==, 2);
    g_assert_cmpuint(kvm_route_table_find(&t, 3)->u.msi.devid, ==, 0x500);
    table_teardown(&t, &kvm);
}

/*
 * The guest renumbered a bus: only the owner's routes get the new
 * DeviceID, and all of them in one commit.
 */
static void test_owner_devid(void)
{
    FakeKVM kvm = {};
    KVMRouteTable t;
    int dev_a, dev_b;
    unsigned int i;

    table_setup(&t, &kvm, 6);
    for (i = 0; i < 6; i++) {
        kvm_route_table_set_owner(&t, i, i % 2 ? &dev_b : &dev_a);
    }
    /* Removal keeps owners with their entries */
    g_assert_true(kvm_route_table_remove(&t, 0));

    g_assert_cmpuint(kvm_route_table_set_devid(&t, &dev_b, 0x208), ==, 3);
    g_assert_cmpuint(kvm_route_table_set_devid(&t, &dev_b, 0x208), ==, 0);
    g_assert_cmpint(kvm_route_table_commit(&t, &error_abort), ==, 0);
    g_assert_cmpuint(kvm.set_gsi_routing, ==, 2);
    for (i = 1; i < 6; i++) {
        g_assert_cmpuint(kvm_route_table_find(&t, i)->u.msi.devid, ==,
                         i % 2 ? 0x208 : 0x100);
    }

    /* Same DeviceID again: nothing to commit */
    g_assert_cmpuint(kvm_route_table_set_devid(&t, &dev_a, 0x100), ==, 0);
    g_assert_cmpint(kvm_route_table_commit(&t, &error_abort), ==, 0);
    g_assert_cmpuint(kvm.set_gsi_routing, ==, 2);
    table_teardown(&t, &kvm);
}

static void test_remove(void)
{
    FakeKVM kvm = {};
    KVMRouteTable t;

    table_setup(&t, &kvm, 8);
    g_assert_true(kvm_route_table_remove(&t, 2));
    g_assert_false(kvm_route_table_remove(&t, 2));
    g_assert_null(kvm_route_table_find(&t, 2));
    g_assert_nonnull(kvm_route_table_find(&t, 7));
    g_assert_cmpuint(kvm_route_table_size(&t), ==, 7);
    g_assert_cmpint(kvm_route_table_commit(&t, &error_abort), ==, 0);
    g_assert_cmpuint(kvm.last_nr, ==, 7);
    table_teardown(&t, &kvm);
}

/*
 * x86 routes a legacy interrupt to both the PIC and the IOAPIC: both
 * routes of the GSI reach the kernel, and go away together.
 */
static void test_irqchip_gsi_two_routes(void)
{
    FakeKVM kvm = {};
    KVMRouteTable t;
    struct kvm_irq_routing_entry pic = irqchip_entry(1, X86_PIC_MASTER, 1);
    struct kvm_irq_routing_entry ioapic = irqchip_entry(1, X86_IOAPIC, 1);
    const struct kvm_irq_routing_entry *found[2];
    int dev;
    unsigned int i;

    kvm_route_table_init(&t, fake_set_gsi_routing, &kvm);
    kvm_route_table_add(&t, &pic);
    kvm_route_table_add(&t, &ioapic);
    /* MSI routes of a device after them, as PCI devices come later */
    for (i = 24; i < 28; i++) {
        struct kvm_irq_routing_entry e = msi_entry(i, i, 0x100);

        kvm_route_table_add(&t, &e);
        kvm_route_table_set_owner(&t, i, &dev);
    }
    g_assert_cmpuint(kvm_route_table_size(&t), ==, 6);
    g_assert_cmpint(kvm_route_table_commit(&t, &error_abort), ==, 0);
    g_assert_cmpuint(kvm.last_nr, ==, 6);
    g_assert_cmpuint(fake_find(&kvm, 1, found, 2), ==, 2);
    g_assert_cmpuint(found[0]->type, ==, KVM_IRQ_ROUTING_IRQCHIP);
    g_assert_cmpuint(found[0]->u.irqchip.irqchip, ==, X86_PIC_MASTER);
    g_assert_cmpuint(found[0]->u.irqchip.pin, ==, 1);
    g_assert_cmpuint(found[1]->type, ==, KVM_IRQ_ROUTING_IRQCHIP);
    g_assert_cmpuint(found[1]->u.irqchip.irqchip, ==, X86_IOAPIC);
    g_assert_cmpuint(found[1]->u.irqchip.pin, ==, 1);

    /* Releasing the GSI removes both */
    g_assert_true(kvm_route_table_remove(&t, 1));
    g_assert_false(kvm_route_table_remove(&t, 1));
    g_assert_null(kvm_route_table_find(&t, 1));
    g_assert_cmpuint(kvm_route_table_size(&t), ==, 4);
    g_assert_cmpint(kvm_route_table_commit(&t, &error_abort), ==, 0);
    g_assert_cmpuint(kvm.set_gsi_routing, ==, 2);
    g_assert_cmpuint(kvm.last_nr, ==, 4);
    g_assert_cmpuint(fake_find(&kvm, 1, found, 2), ==, 0);

    /* The MSI routes that filled the holes kept their owner */
    g_assert_cmpuint(kvm_route_table_set_devid(&t, &dev, 0x208), ==, 4);
    for (i = 24; i < 28; i++) {
        g_assert_cmpuint(kvm_route_table_find(&t, i)->u.msi.devid, ==, 0x208);
    }
    table_teardown(&t, &kvm);
}

/*
 * The legacy routes of an x86 PC: GSIs 0-15 but 2 on the PICs (the slave
 * has 8-15), GSIs 0-23 but 2 on the IOAPIC, whose pin 2 is GSI 0.  The
 * first commit hands all 38 to the kernel.
 */
static void test_x86_legacy_routes(void)
{
    FakeKVM kvm = {};
    KVMRouteTable t;
    const struct kvm_irq_routing_entry *found[2];
    uint32_t gsi;

    kvm_route_table_init(&t, fake_set_gsi_routing, &kvm);
    for (gsi = 0; gsi < 24; gsi++) {
        struct kvm_irq_routing_entry e;

        if (gsi == 2) {
            continue;
        }
        if (gsi < 16) {
            e = irqchip_entry(gsi, gsi < 8 ? X86_PIC_MASTER : X86_PIC_SLAVE,
                              gsi % 8);
            kvm_route_table_add(&t, &e);
        }
        e = irqchip_entry(gsi, X86_IOAPIC, gsi ? gsi : 2);
        kvm_route_table_add(&t, &e);
    }
    g_assert_cmpint(kvm_route_table_commit(&t, &error_abort), ==, 0);
    g_assert_cmpuint(kvm.last_nr, ==, 38);
    for (gsi = 0; gsi < 24; gsi++) {
        g_assert_cmpuint(fake_find(&kvm, gsi, found, 2), ==,
                         gsi == 2 ? 0 : gsi < 16 ? 2 : 1);
    }
    table_teardown(&t, &kvm);
}

/* An MSI GSI has one route, which an update replaces */
static void test_update_replaces_msi_route(void)
{
    FakeKVM kvm = {};
    KVMRouteTable t;
    struct kvm_irq_routing_entry e = msi_entry(2, 0x42, 0x100);
    struct kvm_irq_routing_entry absent = msi_entry(9, 9, 0x100);
    const struct kvm_irq_routing_entry *found[2];

    table_setup(&t, &kvm, 4);
    g_assert_cmpint(kvm_route_table_update(&t, &e), ==, 1);
    g_assert_cmpuint(kvm_route_table_size(&t), ==, 4);
    g_assert_cmpint(kvm_route_table_commit(&t, &error_abort), ==, 0);
    g_assert_cmpuint(kvm.set_gsi_routing, ==, 2);
    g_assert_cmpuint(kvm.last_nr, ==, 4);
    g_assert_cmpuint(fake_find(&kvm, 2, found, 2), ==, 1);
    g_assert_cmpuint(found[0]->u.msi.data, ==, 0x42);

    /* The same route again is no change */
    g_assert_cmpint(kvm_route_table_update(&t, &e), ==, 0);
    /* A GSI without a route gets none */
    g_assert_cmpint(kvm_route_table_update(&t, &absent), ==, -ESRCH);
    g_assert_null(kvm_route_table_find(&t, 9));
    g_assert_cmpuint(kvm_route_table_size(&t), ==, 4);
    g_assert_cmpint(kvm_route_table_commit(&t, &error_abort), ==, 0);
    g_assert_cmpuint(kvm.set_gsi_routing, ==, 2);
    table_teardown(&t, &kvm);
}

/* A refused commit is reported and counted, and the next one retries */
static void test_failed_commit_reports_and_retries(void)
{
    FakeKVM kvm = {};
    KVMRouteTable t;
    struct kvm_irq_routing_entry e = msi_entry(40, 40, 0x100);
    Error *err = NULL;

    table_setup(&t, &kvm, 4);
    kvm_route_table_add(&t, &e);
    kvm.fail_with = ENOSPC;
    g_assert_cmpint(kvm_route_table_commit(&t, &err), ==, -ENOSPC);
    g_assert_nonnull(err);
    g_assert_nonnull(strstr(error_get_pretty(err), "5 interrupt routes"));
    error_free(err);
    g_assert_cmpuint(t.stats.failures, ==, 1);
    /* As kvm_irqchip_commit_routes() does when it reports the refusal */
    t.refusal_reported = true;

    g_assert_cmpint(kvm_route_table_commit(&t, &error_abort), ==, 0);
    g_assert_cmpuint(kvm.set_gsi_routing, ==, 3);
    g_assert_cmpuint(kvm.last_nr, ==, 5);
    g_assert_cmpuint(t.stats.commits, ==, 2);
    /* The kernel took a table: the next refusal is reported again */
    g_assert_false(t.refusal_reported);
    table_teardown(&t, &kvm);
}

/* The table grows past its first allocation without losing entries */
static void test_growth(void)
{
    FakeKVM kvm = {};
    KVMRouteTable t;
    unsigned int i;

    table_setup(&t, &kvm, 2048);
    for (i = 0; i < 2048; i++) {
        g_assert_cmpuint(kvm_route_table_find(&t, i)->u.msi.data, ==, i);
    }
    table_teardown(&t, &kvm);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/kvm-msi-route/unchanged-updates-skip-commit",
                    test_unchanged_updates_skip_commit);
    g_test_add_func("/kvm-msi-route/batch-commits-once",
                    test_batch_commits_once);
    g_test_add_func("/kvm-msi-route/devid-change-is-a-change",
                    test_devid_change_is_a_change);
    g_test_add_func("/kvm-msi-route/owner-devid", test_owner_devid);
    g_test_add_func("/kvm-msi-route/remove", test_remove);
    g_test_add_func("/kvm-msi-route/irqchip-gsi-two-routes",
                    test_irqchip_gsi_two_routes);
    g_test_add_func("/kvm-msi-route/x86-legacy-routes",
                    test_x86_legacy_routes);
    g_test_add_func("/kvm-msi-route/update-replaces-msi-route",
                    test_update_replaces_msi_route);
    g_test_add_func("/kvm-msi-route/failed-commit-reports-and-retries",
                    test_failed_commit_reports_and_retries);
    g_test_add_func("/kvm-msi-route/growth", test_growth);
    return g_test_run();
}
