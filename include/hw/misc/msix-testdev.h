/*
 * msix-testdev: PCIe device that raises MSI-X vectors on request
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_MISC_MSIX_TESTDEV_H
#define HW_MISC_MSIX_TESTDEV_H

#include "qemu/event_notifier.h"
#include "hw/pci/pci_device.h"
#include "hw/misc/msix-testdev-regs.h"

#define TYPE_MSIX_TESTDEV "msix-testdev"

/*
 * Eventfd mode (property "eventfd=on"): raising vector @n signals the
 * vector's eventfd instead of calling msix_notify().  The eventfds belong
 * to an MSIXEventfds (hw/pci/msix-eventfd.h), which delivers them through
 * KVM irqfds or the main loop while unmasked and latches them in a
 * poller thread while masked, as for vfio-pci.
 */

/**
 * msix_testdev_get_notifier:
 * @pdev: an msix-testdev
 * @vector: vector number
 *
 * Returns: the notifier that raising @vector signals, or NULL if @pdev is
 * not in eventfd mode or @vector is out of range.
 */
EventNotifier *msix_testdev_get_notifier(PCIDevice *pdev, unsigned vector);

#endif
