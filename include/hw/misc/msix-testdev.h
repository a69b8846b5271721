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
 * device's per-vector EventNotifier instead of calling msix_notify().
 * Until a consumer attaches, the device itself reads each notifier from
 * the main loop and calls msix_notify(), so the mode works on its own.
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

/**
 * msix_testdev_set_consumer:
 * @pdev: an msix-testdev in eventfd mode
 * @attached: true when a consumer starts reading the notifiers, false
 *            when it stops
 *
 * While a consumer is attached, the device does not read the notifiers
 * itself, so each signal reaches the consumer.  Detaching brings back the
 * device's own handler, which delivers any signal left pending.
 */
void msix_testdev_set_consumer(PCIDevice *pdev, bool attached);

#endif
