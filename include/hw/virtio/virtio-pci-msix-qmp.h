/*
 * virtio-pci MSI-X vectors in x-query-msix
 *
 * Copyright (c) 2026 The qemu-vmsix authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_VIRTIO_PCI_MSIX_QMP_H
#define HW_VIRTIO_PCI_MSIX_QMP_H

#include "hw/virtio/virtio-pci.h"

/* At realize and unrealize: list @proxy's vectors in x-query-msix */
void virtio_pci_msix_query_register(VirtIOPCIProxy *proxy);
void virtio_pci_msix_query_unregister(VirtIOPCIProxy *proxy);

#endif
