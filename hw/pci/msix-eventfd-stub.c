/*
 * Eventfd-backed MSI-X vectors: hosts without epoll and eventfd
 *
 * Copyright (c) 2026 The qemu-vmsix authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The layer cannot be created here, so its users keep their own path:
 * vfio-pci builds only on Linux, and msix-testdev's eventfd mode fails
 * to realize with this message.  Nothing else can be called without an
 * MSIXEventfds.
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "hw/pci/msix-eventfd.h"

MSIXEventfds *msix_eventfds_new(const char *name, unsigned nr,
                                const MSIXEventfdOps *ops, void *opaque,
                                Error **errp)
{
    error_setg(errp, "%s: eventfd-backed MSI-X vectors need epoll and "
               "eventfd, which this host does not have", name);
    return NULL;
}

const MSIXEventfdOps *msix_eventfds_pci_ops(bool allow_kvm)
{
    return NULL;
}

const MSIXEventfdOps *msix_eventfds_pci_msi_ops(bool allow_kvm)
{
    return NULL;
}

void msix_eventfds_free(MSIXEventfds *s)
{
    assert(!s);
}

EventNotifier *msix_eventfds_notifier(MSIXEventfds *s, unsigned vector)
{
    g_assert_not_reached();
}

void msix_eventfds_unmask(MSIXEventfds *s, unsigned vector, MSIMessage msg)
{
    g_assert_not_reached();
}

void msix_eventfds_mask(MSIXEventfds *s, unsigned vector)
{
    g_assert_not_reached();
}

void msix_eventfds_release(MSIXEventfds *s, unsigned vector)
{
    g_assert_not_reached();
}

void msix_eventfds_release_unmasked(MSIXEventfds *s, unsigned vector)
{
    g_assert_not_reached();
}

void msix_eventfds_poll(MSIXEventfds *s, unsigned first, unsigned count)
{
    g_assert_not_reached();
}

/* x-query-msix finds no registered device here: it reads nothing */

void msix_eventfds_set_vlpi_resend(MSIXEventfds *s, bool on)
{
    g_assert_not_reached();
}

void msix_eventfds_set_listener(MSIXEventfds *s, const MSIXEventfdListener *l,
                                void *opaque)
{
    g_assert_not_reached();
}

unsigned msix_eventfds_nr(MSIXEventfds *s)
{
    g_assert_not_reached();
}

int msix_eventfds_virq(MSIXEventfds *s, unsigned vector)
{
    g_assert_not_reached();
}

MSIXEventfdState msix_eventfds_state(MSIXEventfds *s, unsigned vector)
{
    g_assert_not_reached();
}

bool msix_eventfds_latched(MSIXEventfds *s, unsigned vector)
{
    g_assert_not_reached();
}

void msix_eventfds_get_stats(MSIXEventfds *s, int vector,
                             MSIXEventfdStats *stats)
{
    g_assert_not_reached();
}
