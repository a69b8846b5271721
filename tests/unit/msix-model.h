/*
 * A fake vfio host and a reference model of the guest for the MSI-X
 * engine's tests and fuzzer
 *
 * Copyright (c) 2026 The qemu-vmsix authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * FakeHost is the host side of hw/vfio/msix-engine.c (VFIO_DEVICE_SET_IRQS
 * with what the kernel refuses) over the fake KVM of msix-fake.h.  Model
 * is what the guest sees: the mode it turned on, each vector's mask, the
 * function mask; its operations drive the engine as vfio-pci and the PCI
 * core do, and its checks say whether the engine kept its promises:
 * the host's IRQ index is the mode's, nothing is pending while the PBA is
 * not trapped, and every raise since a vector's last delivery is
 * delivered exactly once, with the message the guest programmed.
 * test-vfio-msix-engine walks every short sequence of operations with
 * it, fuzz-msix-engine lets libFuzzer choose them.
 */

#ifndef TESTS_UNIT_MSIX_MODEL_H
#define TESTS_UNIT_MSIX_MODEL_H

#include "hw/vfio/msix-engine.h"
#include "msix-fake.h"

/*
 * The host: counts VFIO_DEVICE_SET_IRQS, checks triggers never change,
 * and refuses what the kernel refuses: a call on one IRQ index while
 * another is on, INTx while MSI or MSI-X is on.
 */
typedef struct FakeHost {
    Fake f;
    VFIOMSIXEngine *e;
    VFIOMSIXMode mode;          /* the IRQ index that is on */
    int32_t trigger[FAKE_MAX_VECTORS];
    unsigned set_irqs;
    unsigned set_irqs_failed;   /* calls that returned an error */
    unsigned disables;
    unsigned changed_triggers;  /* a live trigger replaced */
    unsigned wrong_index;       /* refused: another index is on */
    unsigned intx_refused;      /* INTx set up while MSI or MSI-X is on */
    unsigned limit;             /* vectors the host has; 0: enough */
    int raise_at_enable;        /* the device raises it once enabled */
    bool fail;
    bool enable_refused;        /* the last enable failed: the index is off */
    MSIXEventfdState state_at_disable;  /* vector 0's, at host disable */
    GString *refusals;          /* what VFIOMSIXHostOps.refused heard */
} FakeHost;

/* @kvm: an in-kernel irqchip, else the main loop serves every vector */
FakeHost *host_new_kvm(unsigned nr, bool kvm);
FakeHost *host_new(unsigned nr);
void host_free(FakeHost *h);
void set_vector(FakeHost *h, unsigned vector, bool unmasked);
/* The device signals @vector: only through a trigger the host holds */
void device_raise(FakeHost *h, unsigned vector);
/* What vfio-pci does next when the guest turned MSI or MSI-X off */
void owner_intx_on(FakeHost *h);
/* The guest cleared MSI-X Enable, in the batch of its config write */
void guest_msix_off(FakeHost *h);
/* Linux's pci_enable_msix(): enable with every vector masked */
void guest_enable_alloc(FakeHost *h, VFIOMSIXAlloc alloc);
void guest_enable(FakeHost *h);
/* MSI on with @nr vectors, each unmasked, in one config write */
void guest_msi_on(FakeHost *h, unsigned nr);

#define MODEL_MAX_VECTORS 32

typedef struct Model {
    FakeHost *h;
    unsigned vectors;           /* the table: the host's eventfds */
    VFIOMSIXAlloc alloc;        /* MSI-X's host vector policy */
    VFIOMSIXMode mode;
    unsigned nr;                /* vectors of the mode */
    bool vmasked[MODEL_MAX_VECTORS];
    bool fmasked;
    unsigned sequences;
    uint64_t core_sent;         /* pending bits the PCI core delivered */
} Model;

void model_init(Model *m, unsigned vectors, bool kvm);
void model_destroy(Model *m);

bool model_unmasked(Model *m, unsigned v);
/*
 * A config write that changes masks: MSI-X's function mask, or any write
 * to the MSI capability.
 */
void model_apply_masks(Model *m);
/* What the guest loses when vectors from @first on stop being enabled */
void model_forget(Model *m, unsigned first);
void model_off(Model *m);
void model_on(Model *m, VFIOMSIXMode mode, unsigned nr);
/* The device raises @v */
void model_raise(Model *m, unsigned v);
/* MSI-X: the guest sets or clears @v's Vector Control mask */
void model_msix_mask(Model *m, unsigned v, bool masked);
/* MSI-X: a new message for @v, taken only while it is masked */
void model_msix_data(Model *m, unsigned v, uint32_t data);
/* MSI: Multiple Message Enable shrunk to @nr while MSI is on */
void model_msi_shrink(Model *m, unsigned nr);
/* The guest reads the PBA or the MSI pending bits of [@first, +@count) */
void model_pba_read(Model *m, unsigned first, unsigned count);

/* Back to a fresh device: every mode off, no fault injected */
void model_reset(Model *m);
/*
 * Unmask everything in the mode left on and run the main loop: every
 * raise since a vector's last delivery must be delivered now.
 */
void model_settle(Model *m);

/*
 * The checks return NULL, or what went wrong (g_free it).  _host()
 * holds after every operation, _delivery() after model_settle(),
 * _counters() at any time.
 */
char *model_check_host(Model *m);
char *model_check_delivery(Model *m);
char *model_check_counters(Model *m);

#endif
