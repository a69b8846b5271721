/*
 * KVM interrupt route table with change tracking and batched commits
 *
 * Copyright (c) 2026 The qemu-vmsix authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef SYSTEM_KVM_MSI_ROUTE_H
#define SYSTEM_KVM_MSI_ROUTE_H

#include <linux/kvm.h>
#include "qapi/error.h"

/*
 * Commits the whole table to the kernel (KVM_SET_GSI_ROUTING for the
 * real backend, a fake in unit tests).  Returns 0 or a negative errno.
 */
typedef int (*KVMRouteCommitFn)(void *opaque,
                                const struct kvm_irq_routing *routes);

typedef struct KVMRouteStats {
    uint64_t commits;       /* tables handed to the kernel */
    uint64_t skipped;       /* commits that found nothing to do */
    uint64_t failures;      /* commits the kernel refused */
} KVMRouteStats;

typedef struct KVMRouteTable {
    struct kvm_irq_routing *routes;
    const void **owners;        /* per entry: who set it, or NULL */
    unsigned int allocated;
    bool dirty;
    /*
     * A refusal was reported since the kernel last took a table: set by
     * the reporter, cleared by the next accepted commit
     */
    bool refusal_reported;
    KVMRouteStats stats;
    KVMRouteCommitFn commit_fn;
    void *opaque;
} KVMRouteTable;

/* kvm-all.c keeps its table for the life of the VM: it has no destructor */
void kvm_route_table_init(KVMRouteTable *t, KVMRouteCommitFn commit_fn,
                          void *opaque);

/*
 * Append @entry, whether or not its GSI has entries already: a GSI may
 * have several (x86 routes each legacy interrupt to the PIC and to the
 * IOAPIC), an MSI GSI has one.
 */
void kvm_route_table_add(KVMRouteTable *t,
                         const struct kvm_irq_routing_entry *entry);

/*
 * Replace the first entry of the GSI of @entry.  Returns 1 if the table
 * changed, 0 if that entry already was @entry, -ESRCH if the GSI has
 * none.
 */
int kvm_route_table_update(KVMRouteTable *t,
                           const struct kvm_irq_routing_entry *entry);

/* Remove every entry of @gsi.  Returns true if the table changed. */
bool kvm_route_table_remove(KVMRouteTable *t, uint32_t gsi);

/*
 * Remember who set the entries of @gsi (a PCI device, for MSI routes), so
 * that kvm_route_table_set_devid() finds them; a new entry has none.
 */
void kvm_route_table_set_owner(KVMRouteTable *t, uint32_t gsi,
                               const void *owner);

/*
 * The requester ID of @owner became @devid: rewrite the DeviceID of its
 * MSI routes that carry one.  Returns how many changed; the table then
 * needs a commit.
 */
unsigned int kvm_route_table_set_devid(KVMRouteTable *t, const void *owner,
                                       uint32_t devid);

/* The first entry of @gsi, or NULL */
const struct kvm_irq_routing_entry *
kvm_route_table_find(const KVMRouteTable *t, uint32_t gsi);

static inline unsigned int kvm_route_table_size(const KVMRouteTable *t)
{
    return t->routes->nr;
}

/*
 * Hand the table to the kernel if it changed since the last successful
 * commit, so that a burst of changes costs one commit.  Returns 0, or the
 * kernel's negative errno with @errp set; a refused table stays changed,
 * and the next commit tries again.
 */
int kvm_route_table_commit(KVMRouteTable *t, Error **errp);

#endif
