/*
 * vfio-pci MSI-X and MSI through the MSI-X engine
 *
 * Copyright (c) 2026 The qemu-vmsix authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_VFIO_PCI_MSIX_H
#define HW_VFIO_PCI_MSIX_H

#include "msix-engine.h"

typedef struct VFIOPCIDevice VFIOPCIDevice;

/* x-msix-alloc, a VfioMsixAlloc */
extern const PropertyInfo vfio_pci_msix_alloc_info;

/*
 * At realize, once the MSI and MSI-X capabilities are set up: set up the
 * engine unless x-msix-poller=off.  Fails on a bad x-msix-alloc.
 */
bool vfio_pci_msi_engine_init(VFIOPCIDevice *vdev, Error **errp);
void vfio_pci_msi_engine_exit(VFIOPCIDevice *vdev);

/*
 * The guest turned MSI-X on or off; only with vdev->msix_engine.  A
 * disable returns false, and does nothing, when MSI-X is not the mode
 * that is on (the guest turned MSI on since): the caller then leaves
 * INTx alone too.
 */
void vfio_pci_msix_enable(VFIOPCIDevice *vdev);
bool vfio_pci_msix_disable(VFIOPCIDevice *vdev);

/* Around writes to the MSI-X capability: a MASKALL toggle is one batch */
void vfio_pci_msix_begin(VFIOPCIDevice *vdev);
void vfio_pci_msix_commit(VFIOPCIDevice *vdev);

/*
 * The guest turned MSI on or off, or wrote the MSI capability while MSI
 * is on; only with vdev->msix_engine.  Disable and update do nothing,
 * and disable returns false, when MSI is not the mode that is on.
 */
void vfio_pci_msi_enable(VFIOPCIDevice *vdev);
bool vfio_pci_msi_disable(VFIOPCIDevice *vdev);
void vfio_pci_msi_update(VFIOPCIDevice *vdev);

/*
 * Before the guest reads config space at [@addr, @addr + @len): if that
 * covers the MSI capability, latch the masked vectors' interrupts into
 * its pending bits.
 */
void vfio_pci_msi_poll(VFIOPCIDevice *vdev, uint32_t addr, int len);

/* Before the PBA is saved: latched interrupts into the PBA (or MSI's) */
void vfio_pci_msix_sync(VFIOPCIDevice *vdev);

/*
 * Counters of @vector (-1: the whole device) and of the host side.
 * Returns false if the device does not use the engine.
 */
bool vfio_pci_msix_get_stats(VFIOPCIDevice *vdev, int vector,
                             MSIXEventfdStats *vec, VFIOMSIXStats *host);

#endif
