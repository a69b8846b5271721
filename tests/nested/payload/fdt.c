/*
 * vmsix-payload: a small flattened device tree walker that picks out the
 * UART, memory, GICv3, ITS, PCIe ECAM host, PSCI conduit and CPUs.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "payload.h"

struct dt_info dt;

#define FDT_MAGIC       0xd00dfeed
#define FDT_BEGIN_NODE  1
#define FDT_END_NODE    2
#define FDT_PROP        3
#define FDT_NOP         4
#define FDT_END         9

#define MAX_DEPTH       16

static uint32_t be32(const void *p)
{
    const uint8_t *b = p;

    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | b[2] << 8 | b[3];
}

/* Read @cells big-endian cells (1 or 2) at @p. */
static uint64_t cells(const uint8_t *p, uint32_t n)
{
    uint64_t v = 0;

    while (n--) {
        v = v << 32 | be32(p);
        p += 4;
    }
    return v;
}

struct node {
    const char *name;
    uint32_t addr_cells, size_cells;    /* for this node's children */
    uint32_t paddr_cells, psize_cells;  /* of its parent: for its "reg" */
    const char *compat;
    uint32_t compat_len;
    const uint8_t *reg, *ranges, *bus_range, *msi_map, *method;
    uint32_t reg_len, ranges_len, bus_range_len, msi_map_len;
    uint32_t phandle, msi_map_mask;
    const char *device_type;
    uint64_t gicr_stride;
    bool done;
};

static bool compatible(const struct node *n, const char *what)
{
    const char *c = n->compat, *end = n->compat + n->compat_len;

    while (c && c < end) {
        if (!strcmp(c, what)) {
            return true;
        }
        c += strlen(c) + 1;
    }
    return false;
}

/* Address and size of the @i-th "reg" entry. */
static bool reg_entry(const struct node *n, int i, uint64_t *addr,
                      uint64_t *size)
{
    uint32_t stride = 4 * (n->paddr_cells + n->psize_cells);

    if (!n->reg || !stride || (uint32_t)(i + 1) * stride > n->reg_len) {
        return false;
    }
    *addr = cells(n->reg + i * stride, n->paddr_cells);
    *size = cells(n->reg + i * stride + 4 * n->paddr_cells, n->psize_cells);
    return true;
}

static void pci_host(const struct node *n)
{
    uint32_t i, stride;

    reg_entry(n, 0, &dt.ecam, &dt.ecam_size);
    dt.bus_start = 0;
    dt.bus_end = 255;
    if (n->bus_range && n->bus_range_len >= 8) {
        dt.bus_start = be32(n->bus_range);
        dt.bus_end = be32(n->bus_range + 4);
    }
    /* ranges: <pci-addr (3 cells), cpu-addr (parent cells), size> */
    stride = 4 * (3 + n->paddr_cells + n->size_cells);
    for (i = 0; n->ranges && (i + 1) * stride <= n->ranges_len; i++) {
        const uint8_t *r = n->ranges + i * stride;
        uint32_t space = (be32(r) >> 24) & 3;
        uint64_t pci = cells(r + 4, 2);
        uint64_t cpu = cells(r + 12, n->paddr_cells);
        uint64_t size = cells(r + 12 + 4 * n->paddr_cells, n->size_cells);

        /* 32-bit memory space below 4 GiB on both sides: BARs go there. */
        if (space == 2 && !dt.mmio32_size && pci + size <= BIT(32)) {
            dt.mmio32_pci = pci;
            dt.mmio32_cpu = cpu;
            dt.mmio32_size = size;
        }
    }
    dt.msi_map = n->msi_map;
    dt.msi_map_len = n->msi_map_len;
    dt.msi_map_mask = n->msi_map ? n->msi_map_mask : 0xffff;
}

static void finish(struct node *n)
{
    uint64_t size;

    if (n->done) {
        return;
    }
    n->done = true;
    if (!dt.uart && compatible(n, "arm,pl011")) {
        reg_entry(n, 0, &dt.uart, &size);
    } else if (!dt.mem_size && n->device_type &&
               !strcmp(n->device_type, "memory")) {
        reg_entry(n, 0, &dt.mem_base, &dt.mem_size);
    } else if (!dt.gicd && compatible(n, "arm,gic-v3")) {
        reg_entry(n, 0, &dt.gicd, &size);
        reg_entry(n, 1, &dt.gicr, &dt.gicr_size);
        dt.gicr_stride = n->gicr_stride;
    } else if (!dt.its && compatible(n, "arm,gic-v3-its")) {
        reg_entry(n, 0, &dt.its, &size);
        dt.its_phandle = n->phandle;
    } else if (!dt.ecam && compatible(n, "pci-host-ecam-generic")) {
        pci_host(n);
    } else if (n->device_type && !strcmp(n->device_type, "cpu")) {
        /* Its "reg" is its MPIDR's affinity fields (#size-cells 0) */
        if (dt.ncpus < ARRAY_SIZE(dt.cpu_mpidr) && n->reg &&
            n->reg_len >= 4 * n->paddr_cells) {
            dt.cpu_mpidr[dt.ncpus] = cells(n->reg, n->paddr_cells);
        }
        dt.ncpus++;
    } else if (n->method && (compatible(n, "arm,psci-1.0") ||
                             compatible(n, "arm,psci-0.2") ||
                             compatible(n, "arm,psci"))) {
        dt.have_psci = true;
        dt.psci_smc = !strcmp((const char *)n->method, "smc");
    }
}

void fdt_parse(const void *fdt)
{
    const uint8_t *base = fdt;
    const uint8_t *p, *strings, *end;
    struct node stack[MAX_DEPTH];
    int depth = -1;

    if (!fdt || be32(base) != FDT_MAGIC) {
        die("no device tree at %lx (x0 from the loader): boot the payload "
            "with -kernel", (uint64_t)fdt);
    }
    p = base + be32(base + 8);
    strings = base + be32(base + 12);
    end = base + be32(base + 4);

    while (p < end) {
        uint32_t tok = be32(p);

        p += 4;
        switch (tok) {
        case FDT_BEGIN_NODE: {
            struct node *n;
            if (depth >= 0) {
                finish(&stack[depth]);
            }
            if (++depth >= MAX_DEPTH) {
                die("device tree nested too deeply");
            }
            n = &stack[depth];
            memset(n, 0, sizeof(*n));
            n->name = (const char *)p;
            /* Defaults of the DT specification, then the parent's. */
            n->addr_cells = 2;
            n->size_cells = 1;
            n->paddr_cells = depth ? stack[depth - 1].addr_cells : 2;
            n->psize_cells = depth ? stack[depth - 1].size_cells : 1;
            n->msi_map_mask = 0xffff;
            p += ALIGN_UP(strlen((const char *)p) + 1, 4);
            break;
        }
        case FDT_END_NODE:
            if (depth < 0) {
                die("device tree: unbalanced nodes");
            }
            finish(&stack[depth]);
            depth--;
            break;
        case FDT_PROP: {
            uint32_t len = be32(p);
            const char *name = (const char *)strings + be32(p + 4);
            const uint8_t *v = p + 8;
            struct node *n = &stack[depth < 0 ? 0 : depth];

            p += 8 + ALIGN_UP(len, 4);
            if (depth < 0) {
                break;
            }
            if (!strcmp(name, "#address-cells") && len == 4) {
                n->addr_cells = be32(v);
            } else if (!strcmp(name, "#size-cells") && len == 4) {
                n->size_cells = be32(v);
            } else if (!strcmp(name, "compatible")) {
                n->compat = (const char *)v;
                n->compat_len = len;
            } else if (!strcmp(name, "reg")) {
                n->reg = v;
                n->reg_len = len;
            } else if (!strcmp(name, "ranges")) {
                n->ranges = v;
                n->ranges_len = len;
            } else if (!strcmp(name, "bus-range")) {
                n->bus_range = v;
                n->bus_range_len = len;
            } else if (!strcmp(name, "msi-map")) {
                n->msi_map = v;
                n->msi_map_len = len;
            } else if (!strcmp(name, "msi-map-mask") && len == 4) {
                n->msi_map_mask = be32(v);
            } else if (!strcmp(name, "phandle") && len == 4) {
                n->phandle = be32(v);
            } else if (!strcmp(name, "method")) {
                n->method = v;
            } else if (!strcmp(name, "device_type")) {
                n->device_type = (const char *)v;
            } else if (!strcmp(name, "redistributor-stride") && len >= 4) {
                n->gicr_stride = cells(v, len / 4 > 1 ? 2 : 1);
            } else if (!strcmp(name, "bootargs") && depth == 1 &&
                       !strcmp(n->name, "chosen")) {
                dt.bootargs = (const char *)v;
            }
            break;
        }
        case FDT_NOP:
            break;
        case FDT_END:
            p = end;
            break;
        default:
            die("device tree: bad token %x", tok);
        }
    }
}
