/*
 * libFuzzer target: the vfio-pci MSI-X engine and the eventfd layer
 *
 * Copyright (c) 2026 The qemu-vmsix authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The input is a device (MSI-X table size, MSI vectors, host vector
 * policy, in-kernel irqchip or not, GICv2m or ITS routes) and a sequence
 * of what the guest, the device, the host and KVM do: guest writes of
 * any size and offset to the MSI-X table and to the MSI and MSI-X
 * capabilities, PBA and capability reads, device raises, the host's
 * answers to VFIO_DEVICE_SET_IRQS (success, fewer vectors, refusal) and
 * KVM's to routes, route commits and irqfds.  The guest's registers are
 * kept here as the PCI core keeps them; what a write changes is passed
 * to the reference model of msix-model.c, which drives the engine as
 * vfio-pci does.  After every operation the host and the counters are
 * checked, at the end every vector is unmasked and every raise since
 * its last delivery must have been delivered exactly once.
 * A failed check aborts, which libFuzzer reports as a crash.
 *
 * docs/devel/vmsix-workflow.rst says how to run it (the "fuzz" tier).
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/main-loop.h"
#include "msix-model.h"
#include "libfuzzer.h"

#define ENTRY_SIZE 16
#define MSIX_CAP_SIZE 12
#define MSIX_CTRL_ENABLE 0x80       /* of the control word's high byte */
#define MSIX_CTRL_MASKALL 0x40
#define MSI_CAP_SIZE 24             /* 64-bit, per-vector masking */
#define MSI_CTRL 2
#define MSI_CTRL_ENABLE 0x01
#define MSI_MME_SHIFT 4
#define MSI_DATA 12
#define MSI_MASK 16
#define MSI_PENDING 20

typedef struct Input {
    const uint8_t *p;
    size_t left;
} Input;

/* The guest's view of the device, as the PCI core keeps it */
typedef struct Guest {
    Model m;
    unsigned table;             /* MSI-X table entries */
    unsigned msi_max;           /* MSI vectors the capability offers */
    uint8_t table_bytes[MODEL_MAX_VECTORS * ENTRY_SIZE];
    uint8_t msix_cap[MSIX_CAP_SIZE];
    uint8_t msi_cap[MSI_CAP_SIZE];
} Guest;

/* The next input byte, or 0 once the input is used up */
static uint8_t next(Input *in)
{
    if (!in->left) {
        return 0;
    }
    in->left--;
    return *in->p++;
}

static unsigned next16(Input *in)
{
    unsigned lo = next(in);

    return lo | next(in) << 8;
}

static unsigned access_size(Input *in, bool quad)
{
    static const unsigned sizes[] = { 1, 2, 4, 8 };

    return sizes[next(in) % (quad ? 4 : 3)];
}

static bool entry_masked(Guest *g, unsigned v)
{
    return g->table_bytes[v * ENTRY_SIZE + 12] & 1;
}

static uint32_t entry_data(Guest *g, unsigned v)
{
    return ldl_le_p(&g->table_bytes[v * ENTRY_SIZE + 8]);
}

static unsigned msi_enabled_vectors(Guest *g)
{
    unsigned mme = (g->msi_cap[MSI_CTRL] >> MSI_MME_SHIFT) & 7;

    /* msi_write_config(): more than the capability offers is clamped */
    return MIN(1u << mme, g->msi_max);
}

/* msi_get_message(): the vector number in the low data bits */
static uint32_t msi_vector_data(Guest *g, unsigned v)
{
    uint32_t data = lduw_le_p(&g->msi_cap[MSI_DATA]);

    return (data & ~(msi_enabled_vectors(g) - 1)) | v;
}

static bool msi_vector_masked(Guest *g, unsigned v)
{
    return ldl_le_p(&g->msi_cap[MSI_MASK]) & (1u << v);
}

/* The messages and masks of @mode's registers become the model's */
static void load_mode(Guest *g, VFIOMSIXMode mode)
{
    Model *m = &g->m;
    unsigned v;

    for (v = 0; v < m->vectors; v++) {
        if (mode == VFIO_MSIX_MODE_MSIX) {
            m->vmasked[v] = v < g->table && entry_masked(g, v);
            fake_set_msg(&m->h->f, v, v < g->table ? entry_data(g, v) : 0);
        } else {
            m->vmasked[v] = msi_vector_masked(g, v);
            fake_set_msg(&m->h->f, v, msi_vector_data(g, v));
        }
    }
    m->fmasked = g->msix_cap[3] & MSIX_CTRL_MASKALL;
}

/* msix_mmio_write() and msix_handle_mask_update() for entry @v */
static void table_entry_written(Guest *g, unsigned v, bool was_masked,
                                uint32_t was_data)
{
    Model *m = &g->m;
    bool masked = entry_masked(g, v);

    if (m->mode != VFIO_MSIX_MODE_MSIX) {
        return;
    }
    if (masked && !was_masked) {
        model_msix_mask(m, v, true);
    }
    /* The message is taken while masked, from the unmask on it is used */
    if (entry_data(g, v) != was_data || masked != was_masked) {
        model_msix_data(m, v, entry_data(g, v));
    }
    if (!masked && was_masked) {
        model_msix_mask(m, v, false);
    }
}

static void op_table_write(Guest *g, Input *in)
{
    unsigned len = g->table * ENTRY_SIZE;
    unsigned off = next16(in) % len;
    unsigned size = MIN(access_size(in, true), len - off);
    unsigned first = off / ENTRY_SIZE, last = (off + size - 1) / ENTRY_SIZE;
    bool was_masked[2];
    uint32_t was_data[2];
    unsigned i, v;

    for (v = first; v <= last; v++) {
        was_masked[v - first] = entry_masked(g, v);
        was_data[v - first] = entry_data(g, v);
    }
    for (i = 0; i < size; i++) {
        g->table_bytes[off + i] = next(in);
    }
    for (v = first; v <= last; v++) {
        table_entry_written(g, v, was_masked[v - first], was_data[v - first]);
    }
}

/* vfio_pci_write_config() for the MSI-X capability */
static void op_msix_cap_write(Guest *g, Input *in)
{
    Model *m = &g->m;
    unsigned off = next(in) % MSIX_CAP_SIZE;
    unsigned size = MIN(access_size(in, false), MSIX_CAP_SIZE - off);
    uint8_t was = g->msix_cap[3];
    unsigned i;

    for (i = 0; i < size; i++) {
        uint8_t b = next(in);

        /* Only Enable and Function Mask are writable */
        if (off + i == 3) {
            g->msix_cap[3] = b & (MSIX_CTRL_ENABLE | MSIX_CTRL_MASKALL);
        }
    }
    if ((g->msix_cap[3] & MSIX_CTRL_ENABLE) && !(was & MSIX_CTRL_ENABLE)) {
        model_off(m);
        load_mode(g, VFIO_MSIX_MODE_MSIX);
        model_on(m, VFIO_MSIX_MODE_MSIX, g->table);
    } else if (!(g->msix_cap[3] & MSIX_CTRL_ENABLE) &&
               (was & MSIX_CTRL_ENABLE)) {
        if (m->mode == VFIO_MSIX_MODE_MSIX) {
            model_off(m);
        }
    } else if (m->mode == VFIO_MSIX_MODE_MSIX &&
               (g->msix_cap[3] ^ was) & MSIX_CTRL_MASKALL) {
        m->fmasked = g->msix_cap[3] & MSIX_CTRL_MASKALL;
        model_apply_masks(m);
    }
}

/* Which bits of MSI capability byte @off the guest can write */
static uint8_t msi_writable(Guest *g, unsigned off)
{
    if (off == MSI_CTRL) {
        return MSI_CTRL_ENABLE | 7 << MSI_MME_SHIFT;
    }
    if (off >= MSI_MASK && off < MSI_PENDING) {
        unsigned bit = (off - MSI_MASK) * 8;

        return bit >= g->msi_max ? 0 :
               (g->msi_max - bit >= 8 ? 0xff : (1u << (g->msi_max - bit)) - 1);
    }
    return off >= 4 && off < MSI_DATA + 2 ? 0xff : 0;
}

/* vfio_pci_write_config() for the MSI capability */
static void op_msi_cap_write(Guest *g, Input *in)
{
    Model *m = &g->m;
    unsigned off = next(in) % MSI_CAP_SIZE;
    unsigned size = MIN(access_size(in, false), MSI_CAP_SIZE - off);
    bool was = g->msi_cap[MSI_CTRL] & MSI_CTRL_ENABLE, on;
    unsigned i, v;

    for (i = 0; i < size; i++) {
        uint8_t mask = msi_writable(g, off + i);

        g->msi_cap[off + i] = (g->msi_cap[off + i] & ~mask) | (next(in) & mask);
    }
    on = g->msi_cap[MSI_CTRL] & MSI_CTRL_ENABLE;
    if (on && !was) {
        model_off(m);
        load_mode(g, VFIO_MSIX_MODE_MSI);
        model_on(m, VFIO_MSIX_MODE_MSI, msi_enabled_vectors(g));
    } else if (!on && was) {
        if (m->mode == VFIO_MSIX_MODE_MSI) {
            model_off(m);
        }
    } else if (on && m->mode == VFIO_MSIX_MODE_MSI) {
        /* vfio_pci_msi_update(): fewer vectors, then masks and messages */
        model_msi_shrink(m, msi_enabled_vectors(g));
        for (v = 0; v < m->nr; v++) {
            m->vmasked[v] = msi_vector_masked(g, v);
            fake_set_msg(&m->h->f, v, msi_vector_data(g, v));
        }
        model_apply_masks(m);
    }
}

static void op_msix_pba_read(Guest *g, Input *in)
{
    unsigned first = next(in) % g->table;
    unsigned count = 1 + next(in) % (g->table - first);

    if (g->m.mode == VFIO_MSIX_MODE_MSIX) {
        model_pba_read(&g->m, first, count);
    }
}

/*
 * vfio_pci_msi_poll(): any read of the MSI capability merges what the
 * eventfds latched into the pending bits
 */
static void op_msi_cap_read(Guest *g, Input *in)
{
    if (g->m.mode == VFIO_MSIX_MODE_MSI) {
        model_pba_read(&g->m, 0, g->m.nr);
    }
}

static void op_host(Guest *g, Input *in)
{
    FakeHost *h = g->m.h;
    uint8_t b = next(in);

    h->fail = b % 3 == 2;
    h->limit = b % 3 == 1 ? 1 + (b / 3) % g->m.vectors : 0;
}

static void op_kvm(Guest *g, Input *in)
{
    Fake *f = &g->m.h->f;
    uint8_t b = next(in);

    f->fail_route = b & 1;
    f->fail_commit = b & 2;
    f->fail_attach = b & 4;
}

enum {
    OP_RAISE,
    OP_TABLE_WRITE,
    OP_MSIX_CAP_WRITE,
    OP_MSI_CAP_WRITE,
    OP_MSIX_PBA_READ,
    OP_MSI_CAP_READ,
    OP_HOST,
    OP_KVM,
    OP_RAISE_AT_ENABLE,
    OP_MAIN_LOOP,
    NR_OPS,
};

static void run_op(Guest *g, Input *in)
{
    switch (next(in) % NR_OPS) {
    case OP_RAISE:
        model_raise(&g->m, next(in) % g->m.vectors);
        break;
    case OP_TABLE_WRITE:
        op_table_write(g, in);
        break;
    case OP_MSIX_CAP_WRITE:
        op_msix_cap_write(g, in);
        break;
    case OP_MSI_CAP_WRITE:
        op_msi_cap_write(g, in);
        break;
    case OP_MSIX_PBA_READ:
        op_msix_pba_read(g, in);
        break;
    case OP_MSI_CAP_READ:
        op_msi_cap_read(g, in);
        break;
    case OP_HOST:
        op_host(g, in);
        break;
    case OP_KVM:
        op_kvm(g, in);
        break;
    case OP_RAISE_AT_ENABLE: {
        uint8_t b = next(in);

        g->m.h->raise_at_enable = b & 0x80 ? -1 : b % g->m.vectors;
        break;
    }
    case OP_MAIN_LOOP:
        main_loop_wait(true);
        break;
    }
}

static void check(char *what, const char *when)
{
    if (what) {
        fprintf(stderr, "fuzz-msix-engine: %s: %s\n", when, what);
        abort();
    }
}

static void guest_init(Guest *g, Input *in)
{
    uint8_t b = next(in), irq = next(in);
    unsigned v;

    memset(g, 0, sizeof(*g));
    g->table = 1 + b % MODEL_MAX_VECTORS;
    g->msi_max = 1u << ((irq & 7) % 6);
    /* Without an in-kernel irqchip, or with GICv2m's routes by data */
    model_init(&g->m, MAX(g->table, g->msi_max), !(irq & 0x80));
    g->m.h->f.gicv2m = irq & 0x40;
    g->m.alloc = b & 0x80 ? VFIO_MSIX_ALLOC_VECTOR : VFIO_MSIX_ALLOC_TABLE;
    /* Reset state: every entry masked, MMC in the MSI control word */
    for (v = 0; v < g->table; v++) {
        g->table_bytes[v * ENTRY_SIZE + 12] = 1;
    }
    g->msi_cap[MSI_CTRL] = ctz32(g->msi_max) << 1;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    qemu_init_main_loop(&error_abort);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Input in = { data, size };
    Guest g;

    guest_init(&g, &in);
    while (in.left) {
        run_op(&g, &in);
        check(model_check_host(&g.m), "after an operation");
        check(model_check_counters(&g.m), "after an operation");
    }
    model_settle(&g.m);
    check(model_check_delivery(&g.m), "at the end");
    model_reset(&g.m);
    check(model_check_counters(&g.m), "after the reset");
    model_destroy(&g.m);
    return 0;
}
