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
} MSIXEventfdsUser;

void msix_eventfds_register(MSIXEventfds *s, PCIDevice *dev,
                            const MSIXEventfdsUser *user);
void msix_eventfds_unregister(MSIXEventfds *s);

/*
 * The host refused vectors [@first, @first + @count) of @dev: emit
 * MSIX_HOST_REFUSED with @reason.
 */
void msix_eventfds_host_refused(PCIDevice *dev, unsigned first,
                                unsigned count, const char *reason);

#endif
