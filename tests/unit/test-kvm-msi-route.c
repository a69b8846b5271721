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
    return 0;
}

static struct kvm_irq_routing_entry msi_entry(uint32_t gsi, uint32_t data,
                                              uint32_t devid)
{
    return (struct kvm_irq_routing_entry) {
        .gsi = gsi,
        .type = KVM_IRQ_ROUTING_MSI,
        .flags = KVM_MSI_VALID_DEVID,
        .u.msi.address_lo = 0x08090040,
        .u.msi.data = data,
        .u.msi.devid = devid,
    };
}

static void table_setup(KVMRouteTable *t, FakeKVM *kvm, unsigned int n)
{
    unsigned int i;

    kvm_route_table_init(t, fake_set_gsi_routing, kvm);
    for (i = 0; i < n; i++) {
        struct kvm_irq_routing_entry e = msi_entry(i, i, 0x100);

        g_assert_true(kvm_route_table_set(t, &e));
    }
    g_assert_cmpint(kvm_route_table_commit(t, &error_abort), ==, 0);
    g_assert_cmpuint(kvm->set_gsi_routing, ==, 1);
    g_assert_cmpuint(kvm->last_nr, ==, n);
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

        g_assert_false(kvm_route_table_set(&t, &e));
        g_assert_cmpint(kvm_route_table_commit(&t, &error_abort), ==, 0);
    }
    g_assert_cmpuint(kvm.set_gsi_routing, ==, 1);
    g_assert_cmpuint(t.stats.skipped, ==, 1000);
    g_assert_cmpuint(kvm_route_table_size(&t), ==, 32);
    kvm_route_table_destroy(&t);
}

/* A burst of N changes in one batch costs one KVM_SET_GSI_ROUTING */
static void test_batch_commits_once(void)
{
    FakeKVM kvm = {};
    KVMRouteTable t;
    unsigned int i;

    table_setup(&t, &kvm, 32);
    kvm_route_table_begin(&t);
    for (i = 0; i < 32; i++) {
        struct kvm_irq_routing_entry e = msi_entry(i, i + 100, 0x100);

        g_assert_true(kvm_route_table_set(&t, &e));
        /* an inner batch, as a helper that commits by itself would do */
        kvm_route_table_begin(&t);
        g_assert_cmpint(kvm_route_table_commit(&t, &error_abort), ==, 0);
    }
    g_assert_cmpuint(kvm.set_gsi_routing, ==, 1);
    g_assert_cmpint(kvm_route_table_commit(&t, &error_abort), ==, 0);
    g_assert_cmpuint(kvm.set_gsi_routing, ==, 2);
    g_assert_cmpuint(kvm_route_table_find(&t, 7)->u.msi.data, ==, 107);
    kvm_route_table_destroy(&t);
}

/* A new DeviceID is a change, even with the same message */
static void test_devid_change_is_a_change(void)
{
    FakeKVM kvm = {};
    KVMRouteTable t;
    struct kvm_irq_routing_entry e = msi_entry(3, 3, 0x500);

    table_setup(&t, &kvm, 4);
    g_assert_true(kvm_route_table_set(&t, &e));
    g_assert_cmpint(kvm_route_table_commit(&t, &error_abort), ==, 0);
    g_assert_cmpuint(kvm.set_gsi_routing, ==, 2);
    g_assert_cmpuint(kvm_route_table_find(&t, 3)->u.msi.devid, ==, 0x500);
    kvm_route_table_destroy(&t);
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

    kvm_route_table_begin(&t);
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
    kvm_route_table_destroy(&t);
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
    kvm_route_table_destroy(&t);
}

/* A refused commit is reported and counted, and the next one retries */
static void test_failed_commit_reports_and_retries(void)
{
    FakeKVM kvm = {};
    KVMRouteTable t;
    struct kvm_irq_routing_entry e = msi_entry(40, 40, 0x100);
    Error *err = NULL;

    table_setup(&t, &kvm, 4);
    g_assert_true(kvm_route_table_set(&t, &e));
    kvm.fail_with = ENOSPC;
    g_assert_cmpint(kvm_route_table_commit(&t, &err), ==, -ENOSPC);
    g_assert_nonnull(err);
    g_assert_nonnull(strstr(error_get_pretty(err), "5 interrupt routes"));
    error_free(err);
    g_assert_cmpuint(t.stats.failures, ==, 1);

    g_assert_cmpint(kvm_route_table_commit(&t, &error_abort), ==, 0);
    g_assert_cmpuint(kvm.set_gsi_routing, ==, 3);
    g_assert_cmpuint(kvm.last_nr, ==, 5);
    g_assert_cmpuint(t.stats.commits, ==, 2);
    kvm_route_table_destroy(&t);
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
    kvm_route_table_destroy(&t);
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
    g_test_add_func("/kvm-msi-route/failed-commit-reports-and-retries",
                    test_failed_commit_reports_and_retries);
    g_test_add_func("/kvm-msi-route/growth", test_growth);
    return g_test_run();
}
