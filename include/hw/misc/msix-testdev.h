/*
 * msix-testdev: PCIe device that raises MSI-X vectors on request
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_MISC_MSIX_TESTDEV_H
#define HW_MISC_MSIX_TESTDEV_H

#include "hw/pci/pci_device.h"
#include "hw/misc/msix-testdev-regs.h"

#define TYPE_MSIX_TESTDEV "msix-testdev"

#endif
