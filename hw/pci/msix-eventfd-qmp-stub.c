/*
 * Eventfd-backed MSI-X vectors: x-query-msix without PCI
 *
 * Copyright (c) 2026 The qemu-vmsix authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A machine without PCI has no device with eventfd-backed vectors.
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-msix.h"
#include "monitor/hmp.h"
#include "monitor/monitor.h"
#include "qobject/qdict.h"

MsixDeviceInfoList *qmp_x_query_msix(const char *device,
                                     bool has_first, uint32_t first,
                                     bool has_count, uint32_t count,
                                     Error **errp)
{
    if (device) {
        error_set(errp, ERROR_CLASS_DEVICE_NOT_FOUND,
                  "Device '%s' not found", device);
    }
    return NULL;
}

void hmp_info_msix(Monitor *mon, const QDict *qdict)
{
    const char *device = qdict_get_try_str(qdict, "device");

    if (device) {
        monitor_printf(mon, "Device '%s' not found\n", device);
        return;
    }
    monitor_printf(mon, "No device has eventfd-backed MSI or MSI-X "
                   "vectors\n");
}
