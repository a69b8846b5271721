/*
 * KVM interrupt route table with change tracking and batched commits
 *
 * KVM_SET_GSI_ROUTING replaces the whole table, and on arm64 it also
 * makes the kernel walk every irqfd.  Callers that update one route at a
 * time therefore want to know whether anything changed, and to commit a
 * burst of changes once.  The table knows nothing of KVMState, so that it
 * can be tested against a fake kernel.
 *
 * Copyright (c) 2026 The qemu-vmsix authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "system/kvm-msi-route.h"
#include "trace.h"

#define KVM_ROUTE_TABLE_MIN_ALLOC 64

void kvm_route_table_init(KVMRouteTable *t, KVMRouteCommitFn commit_fn,
                          void *opaque)
{
    *t = (KVMRouteTable) {
        .routes = g_malloc0(sizeof(*t->routes)),
        .commit_fn = commit_fn,
        .opaque = opaque,
    };
}

static int kvm_route_table_index(const KVMRouteTable *t, uint32_t gsi)
{
    unsigned int i;

    for (i = 0; i < t->routes->nr; i++) {
        if (t->routes->entries[i].gsi == gsi) {
            return i;
        }
    }
    return -1;
}

const struct kvm_irq_routing_entry *
kvm_route_table_find(const KVMRouteTable *t, uint32_t gsi)
{
    int i = kvm_route_table_index(t, gsi);

    return i < 0 ? NULL : &t->routes->entries[i];
}

static void kvm_route_table_grow(KVMRouteTable *t)
{
    unsigned int n = MAX(t->allocated * 2, KVM_ROUTE_TABLE_MIN_ALLOC);

    t->routes = g_realloc(t->routes, sizeof(*t->routes) +
                          n * sizeof(t->routes->entries[0]));
    t->owners = g_renew(const void *, t->owners, n);
    t->allocated = n;
}

void kvm_route_table_add(KVMRouteTable *t,
                         const struct kvm_irq_routing_entry *entry)
{
    if (t->routes->nr == t->allocated) {
        kvm_route_table_grow(t);
    }
    t->owners[t->routes->nr] = NULL;
    t->routes->entries[t->routes->nr++] = *entry;
    t->dirty = true;
    trace_kvm_route_table_add(entry->gsi, entry->type);
}

int kvm_route_table_update(KVMRouteTable *t,
                           const struct kvm_irq_routing_entry *entry)
{
    int i = kvm_route_table_index(t, entry->gsi);

    if (i < 0) {
        return -ESRCH;
    }
    if (!memcmp(&t->routes->entries[i], entry, sizeof(*entry))) {
        return 0;
    }
    t->routes->entries[i] = *entry;
    t->dirty = true;
    trace_kvm_route_table_update(entry->gsi, entry->type);
    return 1;
}

bool kvm_route_table_remove(KVMRouteTable *t, uint32_t gsi)
{
    unsigned int i = 0, removed = 0;

    /*
     * Keep the table dense: the last entry, and its owner, fill the hole,
     * and are then looked at in their turn since they may be of @gsi too.
     */
    while (i < t->routes->nr) {
        if (t->routes->entries[i].gsi != gsi) {
            i++;
            continue;
        }
        t->routes->nr--;
        t->routes->entries[i] = t->routes->entries[t->routes->nr];
        t->owners[i] = t->owners[t->routes->nr];
        removed++;
    }
    if (!removed) {
        return false;
    }
    t->dirty = true;
    trace_kvm_route_table_remove(gsi, removed);
    return true;
}

void kvm_route_table_set_owner(KVMRouteTable *t, uint32_t gsi,
                               const void *owner)
{
    unsigned int i;

    for (i = 0; i < t->routes->nr; i++) {
        if (t->routes->entries[i].gsi == gsi) {
            t->owners[i] = owner;
        }
    }
}

unsigned int kvm_route_table_set_devid(KVMRouteTable *t, const void *owner,
                                       uint32_t devid)
{
    unsigned int i, n = 0;

    for (i = 0; i < t->routes->nr; i++) {
        struct kvm_irq_routing_entry *e = &t->routes->entries[i];

        if (t->owners[i] != owner || e->type != KVM_IRQ_ROUTING_MSI ||
            !(e->flags & KVM_MSI_VALID_DEVID) || e->u.msi.devid == devid) {
            continue;
        }
        trace_kvm_route_table_set_devid(e->gsi, e->u.msi.devid, devid);
        e->u.msi.devid = devid;
        n++;
    }
    if (n) {
        t->dirty = true;
    }
    return n;
}

int kvm_route_table_commit(KVMRouteTable *t, Error **errp)
{
    int ret;

    if (!t->dirty) {
        t->stats.skipped++;
        trace_kvm_route_table_commit_skipped(t->routes->nr);
        return 0;
    }
    t->routes->flags = 0;
    ret = t->commit_fn(t->opaque, t->routes);
    if (ret < 0) {
        /* Stay dirty: the next commit tries again. */
        t->stats.failures++;
        trace_kvm_route_table_commit_failed(t->routes->nr, ret);
        error_setg_errno(errp, -ret,
                         "KVM refused a table of %u interrupt routes",
                         t->routes->nr);
        return ret;
    }
    t->stats.commits++;
    t->dirty = false;
    t->refusal_reported = false;
    trace_kvm_route_table_commit(t->routes->nr);
    return 0;
}
