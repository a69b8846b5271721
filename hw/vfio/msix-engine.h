/*
 * vfio-pci MSI-X state machine
 *
 * Copyright (c) 2026 The qemu-vmsix authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The engine keeps the virtual state of a device's MSI and MSI-X
 * capabilities (what the guest sees: which of them is on, and each
 * vector's effective mask and message) and their physical state (which
 * IRQ index is on in the host, which host vectors hold a trigger
 * eventfd, and each vector's eventfd state), and reconciles the second
 * with the first issuing as few host calls as possible.  Host
 * calls go through VFIOMSIXHostOps, interrupt controller calls through
 * the MSIXEventfds' ops, so unit tests drive the engine with fakes.
 *
 * See docs/devel/vfio-msix.rst.
 */

#ifndef HW_VFIO_MSIX_ENGINE_H
#define HW_VFIO_MSIX_ENGINE_H

#include "hw/pci/msix-eventfd.h"

typedef struct VFIOMSIXEngine VFIOMSIXEngine;

/* Which of the device's message interrupts is on */
typedef enum VFIOMSIXMode {
    VFIO_MSIX_MODE_OFF,
    VFIO_MSIX_MODE_MSI,
    VFIO_MSIX_MODE_MSIX,
} VFIOMSIXMode;

typedef enum VFIOMSIXAlloc {
    VFIO_MSIX_ALLOC_TABLE,      /* every host vector at MSI-X enable */
    VFIO_MSIX_ALLOC_VECTOR,     /* each host vector at its first unmask */
} VFIOMSIXAlloc;

typedef struct VFIOMSIXHostOps {
    /*
     * Give the host the trigger eventfds of vectors [@start, @start +
     * @count) of @mode's IRQ index; an fd of -1 enables the index with
     * that vector unset.  Returns 0, a negative errno with @errp set, or,
     * when the host enabled nothing because it has fewer vectors than
     * asked for, how many it has.
     */
    int (*set_triggers)(void *opaque, VFIOMSIXMode mode, unsigned start,
                        unsigned count, const int32_t *fds, Error **errp);
    /* Turn @mode's IRQ index off in the host, releasing its vectors. */
    void (*disable)(void *opaque, VFIOMSIXMode mode);
    /*
     * Optional: the host refused vectors [@first, @first + @count) with
     * @reason; called on every refusal, where the log has only the first.
     */
    void (*refused)(void *opaque, unsigned first, unsigned count,
                    const char *reason);
} VFIOMSIXHostOps;

typedef struct VFIOMSIXStats {
    uint64_t set_irqs;          /* VFIO_DEVICE_SET_IRQS calls */
    uint64_t host_failures;     /* refused ones */
    uint64_t host_refused;      /* vectors the host could not give */
} VFIOMSIXStats;

/**
 * vfio_msix_engine_new:
 * @name: the device's name, for messages and traces
 * @efds: the device's eventfds, one per vector; the engine owns them
 * @ops: the host side
 * @opaque: passed to @ops
 */
VFIOMSIXEngine *vfio_msix_engine_new(const char *name, MSIXEventfds *efds,
                                     const VFIOMSIXHostOps *ops,
                                     void *opaque);
void vfio_msix_engine_free(VFIOMSIXEngine *e);

/*
 * The guest turned @mode on with vectors [0, @nr) (MSI-X: the whole
 * table, MSI: the vectors it enabled), allocated in the host by @alloc,
 * served through @ops (NULL: those of the last mode).  Another mode that
 * is on is turned off first.  The host is enabled when the outermost
 * batch commits, so that the vectors' state of the same batch comes with
 * it.
 */
void vfio_msix_engine_enable(VFIOMSIXEngine *e, VFIOMSIXMode mode,
                             unsigned nr, VFIOMSIXAlloc alloc,
                             const MSIXEventfdOps *ops);

/*
 * The guest turned the mode off.  The host is turned off at once, even
 * within a batch, so that the caller can set up INTx next; then every
 * vector is released and what its eventfd still holds is dropped.
 */
void vfio_msix_engine_disable(VFIOMSIXEngine *e);

/*
 * The guest unmasked (@unmasked true, with message @msg) or masked
 * @vector, counting the function mask.  A vector that is not enabled is
 * ignored.
 */
void vfio_msix_engine_set_vector(VFIOMSIXEngine *e, unsigned vector,
                                 bool unmasked, MSIMessage msg);

/*
 * Vectors from @first on are no longer enabled: released, what they had
 * pending dropped, ignored until the next enable.
 */
void vfio_msix_engine_shrink(VFIOMSIXEngine *e, unsigned first);

/*
 * Batches: host enables and route commits of the changes made in between
 * happen once, at commit; batches nest.
 */
void vfio_msix_engine_begin(VFIOMSIXEngine *e);
void vfio_msix_engine_commit(VFIOMSIXEngine *e);

MSIXEventfds *vfio_msix_engine_eventfds(VFIOMSIXEngine *e);
VFIOMSIXMode vfio_msix_engine_mode(VFIOMSIXEngine *e);
/* The vectors of the current mode, see _enable() and _shrink() */
unsigned vfio_msix_engine_vectors(VFIOMSIXEngine *e);
/*
 * The device's own pending bits are what the guest should read: the mode
 * is live in the host, and a vector holds a host trigger exactly when the
 * guest has it unmasked.  Then no eventfd can latch (every trigger goes
 * to KVM or is delivered at once), and a masked vector the host never got
 * pends in the device, as PCI wants.
 */
bool vfio_msix_engine_pba_quiet(VFIOMSIXEngine *e);
/* The mode whose IRQ index is on in the host */
VFIOMSIXMode vfio_msix_engine_host_mode(VFIOMSIXEngine *e);
bool vfio_msix_engine_host_vector(VFIOMSIXEngine *e, unsigned vector);
void vfio_msix_engine_get_stats(VFIOMSIXEngine *e, VFIOMSIXStats *stats);

#endif
