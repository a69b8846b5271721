/*
 * A fake interrupt controller and KVM for the MSI-X unit tests
 *
 * Copyright (c) 2026 The qemu-vmsix authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The fake kernel injects synchronously: a raise on a vector whose
 * eventfd is an attached irqfd is delivered at once, any other raise
 * signals the eventfd, and attaching an irqfd to an eventfd that holds a
 * count injects it, as KVM_IRQFD does.  Every delivery is checked
 * against the raises since the vector's previous delivery.
 */

#ifndef TESTS_UNIT_MSIX_FAKE_H
#define TESTS_UNIT_MSIX_FAKE_H

#include "qemu/thread.h"
#include "hw/pci/msix-eventfd.h"

#define FAKE_MAX_VECTORS 2048
#define FAKE_MAX_VIRQS 4096

typedef struct FakeVector {
    bool attached;
    int virq;
    bool pba;
    MSIMessage msg;             /* what the guest programmed */
    uint64_t raised;
    uint64_t since;             /* raises since the last delivery */
    uint64_t kernel_delivered;
    uint64_t kernel_coalesced;
    uint64_t user_delivered;
    uint32_t last_data;         /* data of the last delivery */
    uint64_t signalled;         /* raises that went to the eventfd */
    unsigned vec_attaches;
    uint64_t attach_count;      /* what the eventfd held at the last attach */
    uint64_t attach_signalled;  /* .signalled at the last attach */
} FakeVector;

typedef struct Fake {
    QemuMutex lock;
    QemuEvent latched;
    MSIXEventfds *s;
    unsigned nr;
    FakeVector v[FAKE_MAX_VECTORS];
    MSIMessage route[FAKE_MAX_VIRQS];       /* staged */
    MSIMessage committed[FAKE_MAX_VIRQS];   /* what the kernel took */
    bool route_used[FAKE_MAX_VIRQS];

    bool gicv2m;                /* the route is 1000 + data, no table */
    unsigned msi_nr;            /* MSI on with that many vectors, or 0 */
    bool fail_route;
    bool fail_commit;
    bool fail_attach;
    bool fail_detach;

    unsigned route_sets;
    unsigned route_changes;
    unsigned route_releases;
    unsigned commits;
    unsigned attaches;
    unsigned detaches;
    unsigned duplicates;        /* deliveries without a raise */
    unsigned wrong_data;        /* deliveries with a stale message */
} Fake;

extern const MSIXEventfdOps fake_kvm_ops;
extern const MSIXEventfdOps fake_userspace_ops;

void fake_init(Fake *f, unsigned nr, bool kvm);
void fake_cleanup(Fake *f);
void fake_raise(Fake *f, unsigned vector);
void fake_set_msg(Fake *f, unsigned vector, uint32_t data);
/* Send @vector's MSI from userspace, as the MSI and MSI-X cores do */
void fake_deliver(void *opaque, unsigned vector);
uint64_t fake_delivered(Fake *f, unsigned vector);
uint64_t fake_undelivered(Fake *f);
/* The count in @vector's eventfd, left there; f->lock held */
uint64_t fake_eventfd_count(Fake *f, unsigned vector);

#endif
