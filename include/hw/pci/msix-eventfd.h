/*
 * Eventfd-backed MSI-X vectors
 *
 * Copyright (c) 2026 The qemu-vmsix authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A device whose interrupts arrive as eventfd signals (vfio-pci, or
 * msix-testdev in eventfd mode) gives each MSI-X vector one eventfd for
 * the vector's whole life.  While the guest has the vector unmasked, a
 * KVM irqfd on that eventfd injects the MSI without QEMU ("bypass"), or,
 * without an in-kernel irqchip, the main loop does.  While the vector is
 * masked, a poller thread latches its signals into a pending bitmap
 * without taking the BQL; the bitmap is merged into the emulated PBA
 * when the guest reads it and replayed as exactly one MSI on unmask.
 *
 * See docs/devel/vfio-msix.rst for the state diagram and locking rules.
 */

#ifndef HW_PCI_MSIX_EVENTFD_H
#define HW_PCI_MSIX_EVENTFD_H

#include "qemu/event_notifier.h"
#include "hw/pci/msi.h"

typedef struct MSIXEventfds MSIXEventfds;

typedef enum MSIXEventfdState {
    MSIX_EVENTFD_UNUSED,        /* MSI-X disabled: nobody listens */
    MSIX_EVENTFD_MASKED,        /* the poller latches signals */
    MSIX_EVENTFD_BYPASS,        /* a KVM irqfd injects signals */
    MSIX_EVENTFD_USERSPACE,     /* the main loop injects signals */
} MSIXEventfdState;

typedef struct MSIXEventfdStats {
    uint64_t latched;           /* signals latched while masked */
    uint64_t replayed;          /* MSIs injected on unmask */
    uint64_t userspace;         /* MSIs injected by the main loop */
    uint64_t coalesced;         /* signals merged into another's MSI */
    uint64_t dropped;           /* signals pending when MSI-X went off */
    uint64_t route_commits;     /* route batches that changed something */
    uint64_t irqfd_attach;
    uint64_t irqfd_detach;
    uint64_t failures;          /* route or irqfd failures */
    uint64_t fallbacks;         /* went to QEMU: KVM refused it */
    uint64_t restores;          /* went back to KVM after a fallback */
    uint64_t pending;           /* signals latched, not yet delivered */
    uint64_t resent;            /* of replayed: for a vLPI maybe dropped */
} MSIXEventfdStats;

/*
 * Who hears of a vector's moves between KVM and QEMU (the monitor's
 * events).  Called with the BQL held.
 */
typedef struct MSIXEventfdListener {
    /* KVM refused @vector's route, commit or irqfd: QEMU serves it */
    void (*fallback)(void *opaque, unsigned vector, const char *reason);
    /* @vector, which had fallen back, is KVM's again */
    void (*restored)(void *opaque, unsigned vector);
} MSIXEventfdListener;

/*
 * The interrupt controller side.  All callbacks but @latched run with the
 * BQL held.
 * @route_set is NULL when there is no in-kernel irqchip: unmasked
 * vectors are then served by the main loop.
 */
typedef struct MSIXEventfdOps {
    /*
     * Point the route of @vector at @msg.  @virq is the vector's current
     * route, or -1 for none.  Returns the route to use from now on (for
     * GICv2m it follows the message data) or a negative errno with @errp
     * set; sets *@changed when the kernel's table must be committed.
     */
    int (*route_set)(void *opaque, unsigned vector, int virq,
                     MSIMessage msg, bool *changed, Error **errp);
    void (*route_release)(void *opaque, int virq);
    int (*routes_commit)(void *opaque, Error **errp);
    int (*irqfd_attach)(void *opaque, EventNotifier *n, int virq,
                        Error **errp);
    /* Returns 0, or a negative errno with @errp set if KVM kept it */
    int (*irqfd_detach)(void *opaque, EventNotifier *n, int virq,
                        Error **errp);
    /* Send @vector's MSI from userspace */
    void (*deliver)(void *opaque, unsigned vector);
    /* Set @vector's bit in the emulated PBA */
    void (*set_pending)(void *opaque, unsigned vector);
    /* Clear @vector's bit in the emulated PBA; return whether it was set */
    bool (*take_pending)(void *opaque, unsigned vector);
    /*
     * Optional: the poller latched a signal of @vector.  Called from the
     * poller thread, without the BQL and with MSIXEventfds' lock held:
     * it may only signal an event.
     */
    void (*latched)(void *opaque, unsigned vector);
} MSIXEventfdOps;

/**
 * msix_eventfds_new:
 * @name: the device's name, for error messages and traces
 * @nr: number of vectors
 * @ops: the interrupt controller side
 * @opaque: passed to @ops
 * @errp: pointer to a NULL-initialized error object
 *
 * Create @nr eventfds, all MSIX_EVENTFD_UNUSED, and start the poller
 * thread.  Returns NULL with @errp set if the eventfds or the poller's
 * epoll set cannot be created.
 */
MSIXEventfds *msix_eventfds_new(const char *name, unsigned nr,
                                const MSIXEventfdOps *ops, void *opaque,
                                Error **errp);

/* Release every vector, stop the poller and close the eventfds. */
void msix_eventfds_free(MSIXEventfds *s);

/*
 * Stop the poller thread early, when QEMU exits: masked vectors then
 * latch nothing more.
 */
void msix_eventfds_stop_poller(MSIXEventfds *s);

/*
 * Serve the vectors through @ops from now on (a device whose vectors
 * change from MSI-X to MSI).  Only while every vector is unused.
 */
void msix_eventfds_set_ops(MSIXEventfds *s, const MSIXEventfdOps *ops);

/*
 * @on: the host may forward the irqfds to the guest as vLPIs (GICv4).
 * A vector masked while KVM had its irqfd may then have had an MSI
 * pending in the vPE, which the host drops when it stops forwarding
 * it: its next unmask sends one MSI, whatever was latched (counted in
 * .resent).  Off by default: nothing is lost without vLPIs.
 */
void msix_eventfds_set_vlpi_resend(MSIXEventfds *s, bool on);

/* Tell @l of fallbacks and restores from now on; NULL: nobody */
void msix_eventfds_set_listener(MSIXEventfds *s, const MSIXEventfdListener *l,
                                void *opaque);

unsigned msix_eventfds_nr(MSIXEventfds *s);
/* @vector's KVM route, or -1 */
int msix_eventfds_virq(MSIXEventfds *s, unsigned vector);
EventNotifier *msix_eventfds_notifier(MSIXEventfds *s, unsigned vector);
MSIXEventfdState msix_eventfds_state(MSIXEventfds *s, unsigned vector);

/*
 * Unmask @vector with message @msg: stop watching it, drain it, update
 * its route, attach the irqfd and inject one MSI if anything was pending.
 * On an unmasked vector, follow a new @msg.
 */
void msix_eventfds_unmask(MSIXEventfds *s, unsigned vector, MSIMessage msg);

/* Mask @vector: detach the irqfd and let the poller watch it. */
void msix_eventfds_mask(MSIXEventfds *s, unsigned vector);

/*
 * Stop using @vector; what it had pending is dropped.  What its eventfd
 * receives until it is used again is dropped when it is.
 */
void msix_eventfds_release(MSIXEventfds *s, unsigned vector);

/*
 * Stop using @vector, which the guest has unmasked but nothing signals
 * (the host refused it, or its host vector is gone): what it still owes,
 * latched, in the PBA or a vLPI its irqfd's detach may have dropped, is
 * sent as one MSI from QEMU rather than dropped.
 */
void msix_eventfds_release_unmasked(MSIXEventfds *s, unsigned vector);

/*
 * Batches: between begin and commit, route changes are committed once
 * and irqfds attached (and pending MSIs injected) at commit.  Batches
 * nest.
 */
void msix_eventfds_begin(MSIXEventfds *s);
void msix_eventfds_commit(MSIXEventfds *s);

/* Merge what the poller latched into the emulated PBA. */
void msix_eventfds_sync_pending(MSIXEventfds *s);

/*
 * The guest reads the PBA bits of vectors [@first, @first + @count):
 * latch what their eventfds hold now, without waiting for the poller,
 * then merge everything latched into the PBA.
 */
void msix_eventfds_poll(MSIXEventfds *s, unsigned first, unsigned count);

/* Whether the poller latched @vector since the last sync. */
bool msix_eventfds_latched(MSIXEventfds *s, unsigned vector);

/*
 * Counters of @vector, or of all vectors when @vector is -1.  Safe
 * against the poller.
 */
void msix_eventfds_get_stats(MSIXEventfds *s, int vector,
                             MSIXEventfdStats *stats);

/*
 * PCI devices: ops that serve MSI-X vectors (msix_eventfds_pci_ops) or
 * MSI vectors (msix_eventfds_pci_msi_ops), routed through KVM when
 * @allow_kvm and MSIs can be injected by irqfd, and through the main loop
 * otherwise.  @opaque is the PCIDevice.
 */
const MSIXEventfdOps *msix_eventfds_pci_ops(bool allow_kvm);
const MSIXEventfdOps *msix_eventfds_pci_msi_ops(bool allow_kvm);

#endif
