/*
 * Eventfd-backed MSI-X vectors: the PCI and KVM side
 *
 * Copyright (c) 2026 The qemu-vmsix authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "hw/pci/msi.h"
#include "hw/pci/msix.h"
#include "hw/pci/pci_device.h"
#include "hw/pci/msix-eventfd.h"
#include "system/kvm.h"

static int pci_route_set(void *opaque, unsigned vector, int virq,
                         MSIMessage msg, bool *changed, Error **errp)
{
    PCIDevice *dev = opaque;
    KVMRouteChange c;
    int ret;

    if (virq < 0 || kvm_gsi_direct_mapping()) {
        /*
         * Without an ITS, GICv2m's SPI is a function of the message data:
         * "adding" the route again yields the SPI the data now names.
         */
        c = kvm_irqchip_begin_route_changes(kvm_state);
        ret = kvm_irqchip_add_msi_route_msg(&c, vector, msg, dev);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "no KVM MSI route");
            return ret;
        }
        *changed = c.changes > 0;
        return ret;
    }
    ret = kvm_irqchip_update_msi_route(kvm_state, virq, msg, dev);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "cannot update KVM MSI route %d", virq);
        return ret;
    }
    *changed = ret > 0;
    return virq;
}

static void pci_route_release(void *opaque, int virq)
{
    if (!kvm_gsi_direct_mapping()) {
        kvm_irqchip_release_virq(kvm_state, virq);
    }
}

static int pci_routes_commit(void *opaque, Error **errp)
{
    return kvm_irqchip_try_commit_routes(kvm_state, errp);
}

static int pci_irqfd_attach(void *opaque, EventNotifier *n, int virq,
                            Error **errp)
{
    int ret = kvm_irqchip_add_irqfd_notifier_gsi(kvm_state, n, NULL, virq);

    if (ret < 0) {
        error_setg_errno(errp, -ret, "cannot attach a KVM irqfd to GSI %d",
                         virq);
    }
    return ret;
}

static int pci_irqfd_detach(void *opaque, EventNotifier *n, int virq,
                            Error **errp)
{
    int ret = kvm_irqchip_remove_irqfd_notifier_gsi(kvm_state, n, virq);

    if (ret < 0) {
        error_setg_errno(errp, -ret, "cannot detach the KVM irqfd of GSI %d",
                         virq);
    }
    return ret;
}

static void pci_msix_deliver(void *opaque, unsigned vector)
{
    msix_notify(opaque, vector);
}

static void pci_msix_set_pending(void *opaque, unsigned vector)
{
    msix_set_pending(opaque, vector);
}

static bool pci_msix_take_pending(void *opaque, unsigned vector)
{
    PCIDevice *dev = opaque;
    uint8_t bit = 1 << (vector % 8);

    if (!(dev->msix_pba[vector / 8] & bit)) {
        return false;
    }
    msix_clr_pending(dev, vector);
    return true;
}

/*
 * The MSI vectors of a device that has them on.  The guest can shrink
 * Multiple Message Enable while MSI is on: a vector beyond it has no MSI
 * to send.
 */
static bool pci_msi_vector_enabled(PCIDevice *dev, unsigned vector)
{
    return msi_enabled(dev) && vector < msi_nr_vectors_allocated(dev);
}

static void pci_msi_deliver(void *opaque, unsigned vector)
{
    if (pci_msi_vector_enabled(opaque, vector)) {
        msi_notify(opaque, vector);
    }
}

/* msi_notify() of a masked vector sets its pending bit */
static void pci_msi_set_pending(void *opaque, unsigned vector)
{
    if (pci_msi_vector_enabled(opaque, vector)) {
        msi_notify(opaque, vector);
    }
}

/* MSI pending bits exist only with per-vector masking */
static uint8_t *msi_pending_bits(PCIDevice *dev)
{
    uint16_t flags = pci_get_word(dev->config + dev->msi_cap + PCI_MSI_FLAGS);

    if (!(flags & PCI_MSI_FLAGS_MASKBIT)) {
        return NULL;
    }
    return dev->config + dev->msi_cap + (flags & PCI_MSI_FLAGS_64BIT ?
                                         PCI_MSI_PENDING_64 :
                                         PCI_MSI_PENDING_32);
}

static bool pci_msi_take_pending(void *opaque, unsigned vector)
{
    uint8_t *bits = msi_pending_bits(opaque);
    uint32_t bit = 1U << vector;

    if (!bits || vector >= 32 || !(pci_get_long(bits) & bit)) {
        return false;
    }
    pci_set_long(bits, pci_get_long(bits) & ~bit);
    return true;
}

static const MSIXEventfdOps pci_msix_kvm_ops = {
    .route_set = pci_route_set,
    .route_release = pci_route_release,
    .routes_commit = pci_routes_commit,
    .irqfd_attach = pci_irqfd_attach,
    .irqfd_detach = pci_irqfd_detach,
    .deliver = pci_msix_deliver,
    .set_pending = pci_msix_set_pending,
    .take_pending = pci_msix_take_pending,
};

static const MSIXEventfdOps pci_msix_userspace_ops = {
    .deliver = pci_msix_deliver,
    .set_pending = pci_msix_set_pending,
    .take_pending = pci_msix_take_pending,
};

static const MSIXEventfdOps pci_msi_kvm_ops = {
    .route_set = pci_route_set,
    .route_release = pci_route_release,
    .routes_commit = pci_routes_commit,
    .irqfd_attach = pci_irqfd_attach,
    .irqfd_detach = pci_irqfd_detach,
    .deliver = pci_msi_deliver,
    .set_pending = pci_msi_set_pending,
    .take_pending = pci_msi_take_pending,
};

static const MSIXEventfdOps pci_msi_userspace_ops = {
    .deliver = pci_msi_deliver,
    .set_pending = pci_msi_set_pending,
    .take_pending = pci_msi_take_pending,
};

static bool pci_use_kvm(bool allow_kvm)
{
    return allow_kvm && kvm_msi_via_irqfd_enabled();
}

const MSIXEventfdOps *msix_eventfds_pci_ops(bool allow_kvm)
{
    return pci_use_kvm(allow_kvm) ? &pci_msix_kvm_ops
                                  : &pci_msix_userspace_ops;
}

const MSIXEventfdOps *msix_eventfds_pci_msi_ops(bool allow_kvm)
{
    return pci_use_kvm(allow_kvm) ? &pci_msi_kvm_ops
                                  : &pci_msi_userspace_ops;
}
