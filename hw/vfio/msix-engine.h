/*
 * vfio-pci MSI-X state machine
 *
 * Copyright (c) 2026 The qemu-vmsix authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The engine keeps the virtual state of a device's MSI-X capability (what
 * the guest sees: enable, and each vector's effective mask and message)
 * and its physical state (MSI-X on in the host, which host vectors hold
 * a trigger eventfd, and each vector's eventfd state), and reconciles the
 * second with the first issuing as few host calls as possible.  Host
 * calls go through VFIOMSIXHostOps, interrupt controller calls through
 * the MSIXEventfds' ops, so unit tests drive the engine with fakes.
 *
 * See docs/devel/vfio-msix.rst.
 */

#ifndef HW_VFIO_MSIX_ENGINE_H
#define HW_VFIO_MSIX_ENGINE_H

#include "hw/pci/msix-eventfd.h"

typedef struct VFIOMSIXEngine VFIOMSIXEngine;

typedef enum VFIOMSIXAlloc {
    VFIO_MSIX_ALLOC_TABLE,      /* every host vector at MSI-X enable */
    VFIO_MSIX_ALLOC_VECTOR,     /* each host vector at its first unmask */
} VFIOMSIXAlloc;

typedef struct VFIOMSIXHostOps {
    /*
     * Give the host the trigger eventfds of vectors [@start, @start +
     * @count); an fd of -1 enables MSI-X with that vector unset.
     */
    int (*set_triggers)(void *opaque, unsigned start, unsigned count,
                        const int32_t *fds, Error **errp);
    /* Turn MSI-X off in the host, releasing every host vector. */
    void (*disable)(void *opaque);
} VFIOMSIXHostOps;

typedef struct VFIOMSIXStats {
    uint64_t set_irqs;          /* VFIO_DEVICE_SET_IRQS calls */
    uint64_t host_failures;     /* refused ones */
} VFIOMSIXStats;

/**
 * vfio_msix_engine_new:
 * @name: the device's name, for messages and traces
 * @efds: the device's eventfds, one per vector; the engine owns them
 * @alloc: the host allocation policy
 * @ops: the host side
 * @opaque: passed to @ops
 */
VFIOMSIXEngine *vfio_msix_engine_new(const char *name, MSIXEventfds *efds,
                                     VFIOMSIXAlloc alloc,
                                     const VFIOMSIXHostOps *ops,
                                     void *opaque);
void vfio_msix_engine_free(VFIOMSIXEngine *e);

/*
 * What the next enable brings up: vectors [0, @nr) (MSI-X: the whole
 * table, MSI: the vectors the guest enabled), allocated in the host by
 * @alloc.  Only while disabled; by default every vector, with the policy
 * given at creation.
 */
void vfio_msix_engine_set_vectors(VFIOMSIXEngine *e, unsigned nr,
                                  VFIOMSIXAlloc alloc);

/* The guest turned MSI-X (or MSI) on or off. */
void vfio_msix_engine_set_enabled(VFIOMSIXEngine *e, bool enabled);

/*
 * The guest unmasked (@unmasked true, with message @msg) or masked
 * @vector, counting the function mask.
 */
void vfio_msix_engine_set_vector(VFIOMSIXEngine *e, unsigned vector,
                                 bool unmasked, MSIMessage msg);

/*
 * Batches: the changes made in between are reconciled once, at commit;
 * batches nest.
 */
void vfio_msix_engine_begin(VFIOMSIXEngine *e);
void vfio_msix_engine_commit(VFIOMSIXEngine *e);

/* Bring the physical state in line with the virtual state again. */
void vfio_msix_engine_reconcile(VFIOMSIXEngine *e);

MSIXEventfds *vfio_msix_engine_eventfds(VFIOMSIXEngine *e);
/* The vectors of the current (or next) enable, see _set_vectors() */
unsigned vfio_msix_engine_vectors(VFIOMSIXEngine *e);
bool vfio_msix_engine_host_enabled(VFIOMSIXEngine *e);
bool vfio_msix_engine_host_vector(VFIOMSIXEngine *e, unsigned vector);
void vfio_msix_engine_get_stats(VFIOMSIXEngine *e, VFIOMSIXStats *stats);

#endif
