/*
 * vfio-pci MSI-X through the MSI-X engine
 *
 * Copyright (c) 2026 The qemu-vmsix authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_VFIO_PCI_MSIX_H
#define HW_VFIO_PCI_MSIX_H

#include "msix-engine.h"

typedef struct VFIOPCIDevice VFIOPCIDevice;

/*
 * At realize, once msix_init() succeeded: set up the engine unless
 * x-msix-poller=off.  Fails on a bad x-msix-alloc.
 */
bool vfio_pci_msix_init(VFIOPCIDevice *vdev, Error **errp);
void vfio_pci_msix_exit(VFIOPCIDevice *vdev);

/* The guest turned MSI-X on or off; only with vdev->msix_engine. */
void vfio_pci_msix_enable(VFIOPCIDevice *vdev);
void vfio_pci_msix_disable(VFIOPCIDevice *vdev);

/* Around writes to the MSI-X capability: a MASKALL toggle is one batch */
void vfio_pci_msix_begin(VFIOPCIDevice *vdev);
void vfio_pci_msix_commit(VFIOPCIDevice *vdev);

/* Before the PBA is saved: latched interrupts into the PBA */
void vfio_pci_msix_sync(VFIOPCIDevice *vdev);

/*
 * Counters of @vector (-1: the whole device) and of the host side.
 * Returns false if the device does not use the engine.
 */
bool vfio_pci_msix_get_stats(VFIOPCIDevice *vdev, int vector,
                             MSIXEventfdStats *vec, VFIOMSIXStats *host);

#endif
