/*
 * Eventfd-backed MSI-X vectors: x-query-msix and the vectors' events
 *
 * Copyright (c) 2026 The qemu-vmsix authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A PCI device registers its MSIXEventfds here once it has them, so that
 * x-query-msix and "info msix" can find it, and so that its vectors'
 * fallbacks to QEMU and returns to KVM become QMP events.  It
 * unregisters before it frees them.
 */

#ifndef HW_PCI_MSIX_EVENTFD_QMP_H
#define HW_PCI_MSIX_EVENTFD_QMP_H

#include "hw/pci/msix-eventfd.h"
#include "qapi/qapi-types-msix.h"

typedef struct MSIXEventfdsUser {
    /* Which interrupt mechanism the guest has on */
    MsixMode (*mode)(PCIDevice *dev);
    /* Whether the eventfds serve MSI while MSI is on (else only MSI-X) */
    bool serves_msi;
    /* Optional: the host side, for devices that have one */
    void (*host_info)(PCIDevice *dev, MsixHostInfo *info);

    /*
     * Devices without MSIXEventfds whose MSI-X vectors KVM may refuse
     * (virtio-pci with irqfds): how many vectors they have, each one's
     * state and KVM route, and the device's counters.
     */
    unsigned (*vectors)(PCIDevice *dev);
    void (*vector_info)(PCIDevice *dev, unsigned vector, MsixVectorInfo *vi);
    void (*totals)(PCIDevice *dev, MsixVectorCounters *c);
} MSIXEventfdsUser;

void msix_eventfds_register(MSIXEventfds *s, PCIDevice *dev,
                            const MSIXEventfdsUser *user);
void msix_eventfds_unregister(MSIXEventfds *s);

/* A device without MSIXEventfds, with @user's vectors, vector_info, totals */
void msix_eventfds_register_device(PCIDevice *dev,
                                   const MSIXEventfdsUser *user);
void msix_eventfds_unregister_device(PCIDevice *dev);

/*
 * @dev's @vector went to QEMU, KVM having refused it for @reason, or
 * back to KVM: emit MSIX_VECTOR_FALLBACK or MSIX_VECTOR_RESTORED.
 */
void msix_eventfds_fallback_event(PCIDevice *dev, unsigned vector,
                                  const char *reason);
void msix_eventfds_restored_event(PCIDevice *dev, unsigned vector);

/*
 * The host refused vectors [@first, @first + @count) of @dev: emit
 * MSIX_HOST_REFUSED with @reason.
 */
void msix_eventfds_host_refused(PCIDevice *dev, unsigned first,
                                unsigned count, const char *reason);

#endif
