/*
 * virtio-pci MSI-X vectors in x-query-msix
 *
 * Copyright (c) 2026 The qemu-vmsix authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * With irqfds (vhost, an iothread), each MSI-X vector of a virtio-pci
 * device has a KVM route, and its queues' notifiers are attached to it;
 * a vector whose route KVM refuses is delivered by QEMU instead
 * (virtio_pci_vector_to_qemu()).  Show which, next to the eventfd-backed
 * vectors of vfio-pci: one query answers which vectors QEMU delivers.
 */

#include "qemu/osdep.h"
#include "hw/pci/msix.h"
#include "hw/pci/msix-eventfd-qmp.h"
#include "hw/virtio/virtio-pci-msix-qmp.h"

static MsixMode virtio_pci_msix_mode(PCIDevice *dev)
{
    if (msix_enabled(dev)) {
        return MSIX_MODE_MSIX;
    }
    return pci_get_byte(dev->config + PCI_INTERRUPT_PIN) ? MSIX_MODE_INTX
                                                         : MSIX_MODE_NONE;
}

static unsigned virtio_pci_msix_vectors(PCIDevice *dev)
{
    return msix_present(dev) ? dev->msix_entries_nr : 0;
}

/*
 * bypass: a KVM route carries the vector's irqfds; userspace: QEMU's
 * msix_notify() delivers it, with no irqfds or after KVM refused them
 */
static void virtio_pci_msix_vector_info(PCIDevice *dev, unsigned vector,
                                        MsixVectorInfo *vi)
{
    VirtIOPCIProxy *proxy = VIRTIO_PCI(dev);
    VirtIOIRQFD *irqfd = proxy->vector_irqfd ?
                         &proxy->vector_irqfd[vector] : NULL;

    if (!msix_enabled(dev) || !dev->msix_entry_used[vector]) {
        vi->state = MSIX_VECTOR_STATE_UNUSED;
    } else if (msix_is_masked(dev, vector)) {
        vi->state = MSIX_VECTOR_STATE_MASKED;
    } else if (irqfd && irqfd->users && !irqfd->in_userspace) {
        vi->state = MSIX_VECTOR_STATE_BYPASS;
    } else {
        vi->state = MSIX_VECTOR_STATE_USERSPACE;
    }
    if (irqfd && irqfd->users && !irqfd->in_userspace && irqfd->virq >= 0) {
        vi->has_virq = true;
        vi->virq = irqfd->virq;
    }
}

static void virtio_pci_msix_totals(PCIDevice *dev, MsixVectorCounters *c)
{
    c->fallbacks = VIRTIO_PCI(dev)->msix_fallbacks;
}

static const MSIXEventfdsUser virtio_pci_msix_query_user = {
    .mode = virtio_pci_msix_mode,
    .vectors = virtio_pci_msix_vectors,
    .vector_info = virtio_pci_msix_vector_info,
    .totals = virtio_pci_msix_totals,
};

void virtio_pci_msix_query_register(VirtIOPCIProxy *proxy)
{
    msix_eventfds_register_device(&proxy->pci_dev,
                                  &virtio_pci_msix_query_user);
}

void virtio_pci_msix_query_unregister(VirtIOPCIProxy *proxy)
{
    msix_eventfds_unregister_device(&proxy->pci_dev);
}
