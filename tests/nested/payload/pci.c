/*
 * vmsix-payload: PCIe enumeration through ECAM.  The payload is the only
 * software on the machine, so it numbers the buses behind bridges,
 * assigns every memory BAR from the host bridge's 32-bit window and opens
 * the bridges' windows itself.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "payload.h"

#define PCI_VENDOR_ID           0x00
#define PCI_COMMAND             0x04
#define PCI_STATUS              0x06
#define PCI_HEADER_TYPE         0x0e
#define PCI_BAR0                0x10
#define PCI_PRIMARY_BUS         0x18
#define PCI_IO_BASE             0x1c
#define PCI_MEMORY_BASE         0x20
#define PCI_PREF_MEMORY_BASE    0x24
#define PCI_PREF_BASE_UPPER32   0x28
#define PCI_PREF_LIMIT_UPPER32  0x2c
#define PCI_IO_BASE_UPPER16     0x30
#define PCI_CAPABILITY_LIST     0x34

#define PCI_COMMAND_MEMORY      BIT(1)
#define PCI_COMMAND_MASTER      BIT(2)
#define PCI_COMMAND_INTX_OFF    BIT(10)
#define PCI_STATUS_CAP_LIST     BIT(4)

#define MIB                     BIT(20)

struct pci_dev pci_devs[PCI_MAX_DEVS];
int pci_ndevs;

static uint32_t last_bus;
static uint64_t mem_next, mem_end;      /* PCI addresses */

static uint64_t cfg_addr(uint32_t bus, uint32_t dev, uint32_t fn)
{
    return dt.ecam + ((uint64_t)(bus - dt.bus_start) << 20 | dev << 15 |
                      fn << 12);
}

static uint64_t mem_alloc(uint64_t size, uint64_t align)
{
    uint64_t a = ALIGN_UP(mem_next, align);

    if (a + size > mem_end) {
        die("PCI: the 32-bit memory window is full (%lx more bytes wanted)",
            size);
    }
    mem_next = a + size;
    return a;
}

static uint64_t pci_to_cpu(uint64_t a)
{
    return a - dt.mmio32_pci + dt.mmio32_cpu;
}

/* Size and place the memory BARs; returns the CPU address of each. */
static void assign_bars(uint64_t cfg, int nbars, uint64_t *out)
{
    int i;

    for (i = 0; i < nbars; i++) {
        uint32_t off = PCI_BAR0 + 4 * i;
        uint32_t lo, hi = 0xffffffff;
        bool is64;
        uint64_t size, a;

        writel(cfg + off, 0xffffffff);
        lo = readl(cfg + off);
        if (!lo) {
            continue;                           /* not implemented */
        }
        if (lo & 1) {
            writel(cfg + off, 0);               /* I/O: not used */
            continue;
        }
        is64 = (lo >> 1 & 3) == 2;
        if (is64) {
            writel(cfg + off + 4, 0xffffffff);
            hi = readl(cfg + off + 4);
        }
        size = ~((uint64_t)hi << 32 | (lo & ~0xfU)) + 1;
        /* At least a page each, so that no two BARs share one. */
        a = mem_alloc(size, size < 4096 ? 4096 : size);
        writel(cfg + off, (uint32_t)a);
        if (is64) {
            writel(cfg + off + 4, 0);
        }
        if (out) {
            out[i] = pci_to_cpu(a);
        }
        i += is64;
    }
}

static void scan_bus(uint32_t bus, uint64_t bridge_cfg);

static void setup_bridge(uint64_t cfg, uint32_t bus, uint32_t dev,
                         uint32_t fn)
{
    uint32_t sec = ++last_bus;
    uint64_t base, end;

    if (sec > dt.bus_end) {
        die("PCI: out of bus numbers behind %02x:%02x.%x", bus, dev, fn);
    }
    writew(cfg + PCI_COMMAND, 0);
    assign_bars(cfg, 2, NULL);
    /* Open every bus number below it while scanning, then narrow. */
    writeb(cfg + PCI_PRIMARY_BUS, bus);
    writeb(cfg + PCI_PRIMARY_BUS + 1, sec);
    writeb(cfg + PCI_PRIMARY_BUS + 2, dt.bus_end);
    /* No I/O and no prefetchable window: base above limit. */
    writew(cfg + PCI_IO_BASE, 0x00f0);
    writew(cfg + PCI_IO_BASE_UPPER16, 0);
    writel(cfg + PCI_PREF_MEMORY_BASE, 0x0000fff0);
    writel(cfg + PCI_PREF_BASE_UPPER32, 0);
    writel(cfg + PCI_PREF_LIMIT_UPPER32, 0);

    /* A bridge's memory window has a 1 MiB granularity. */
    mem_next = ALIGN_UP(mem_next, MIB);
    base = mem_next;
    scan_bus(sec, cfg);
    end = ALIGN_UP(mem_next, MIB);
    mem_next = end;
    if (end > base) {
        writel(cfg + PCI_MEMORY_BASE,
               (base >> 16 & 0xfff0) | ((end - 1) >> 16 & 0xfff0) << 16);
    } else {
        writel(cfg + PCI_MEMORY_BASE, 0x0000fff0);
    }
    writeb(cfg + PCI_PRIMARY_BUS + 2, last_bus);
    writew(cfg + PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    printf("PCI: bridge %02x:%02x.%x: buses %u-%u, memory %lx-%lx\n", bus,
           dev, fn, sec, last_bus, pci_to_cpu(base),
           end > base ? pci_to_cpu(end) - 1 : 0);
}

static void scan_bus(uint32_t bus, uint64_t bridge_cfg)
{
    uint32_t dev, fn;

    for (dev = 0; dev < 32; dev++) {
        for (fn = 0; fn < 8; fn++) {
            uint64_t cfg = cfg_addr(bus, dev, fn);
            uint16_t vendor = readw(cfg + PCI_VENDOR_ID);
            uint8_t hdr;

            if (vendor == 0xffff) {
                if (fn == 0) {
                    break;
                }
                continue;
            }
            hdr = readb(cfg + PCI_HEADER_TYPE);
            if ((hdr & 0x7f) == 1) {
                setup_bridge(cfg, bus, dev, fn);
            } else if ((hdr & 0x7f) == 0) {
                struct pci_dev *d;

                if (pci_ndevs == PCI_MAX_DEVS) {
                    die("PCI: more than %d devices", PCI_MAX_DEVS);
                }
                d = &pci_devs[pci_ndevs++];
                memset(d, 0, sizeof(*d));
                d->bus = bus;
                d->dev = dev;
                d->fn = fn;
                d->cfg = cfg;
                d->vendor = vendor;
                d->device = readw(cfg + PCI_VENDOR_ID + 2);
                d->rid = bus << 8 | dev << 3 | fn;
                d->devid = pci_rid_to_devid(d->rid);
                d->behind_bridge = bridge_cfg != 0;
                d->bridge_cfg = bridge_cfg;
                writew(cfg + PCI_COMMAND, 0);
                assign_bars(cfg, 6, d->bar);
                writew(cfg + PCI_COMMAND, PCI_COMMAND_MEMORY |
                       PCI_COMMAND_MASTER | PCI_COMMAND_INTX_OFF);
            }
            if (fn == 0 && !(hdr & 0x80)) {
                break;                          /* single function */
            }
        }
    }
}

void pci_enumerate(void)
{
    if (!dt.ecam) {
        die("no PCIe host (\"pci-host-ecam-generic\") in the device tree");
    }
    if (!dt.mmio32_size) {
        die("PCIe host has no 32-bit memory window in its \"ranges\"");
    }
    if (dt.bus_end - dt.bus_start + 1 > dt.ecam_size >> 20) {
        dt.bus_end = dt.bus_start + (dt.ecam_size >> 20) - 1;
    }
    mem_next = dt.mmio32_pci;
    mem_end = dt.mmio32_pci + dt.mmio32_size;
    last_bus = dt.bus_start;
    scan_bus(dt.bus_start, 0);
}

/*
 * Give the bus of @d, alone behind its bridge, the next free bus number,
 * as an OS that renumbers does: the device keeps its BARs and its MSI-X
 * table but gets a new requester ID, so a new ITS DeviceID.  Updates @d.
 */
bool pci_renumber(struct pci_dev *d)
{
    uint64_t b = d->bridge_cfg;
    uint32_t bus = last_bus + 1;
    uint64_t cfg = cfg_addr(bus, d->dev, d->fn);

    if (!b || bus > dt.bus_end ||
        readb(b + PCI_PRIMARY_BUS + 1) != d->bus ||
        readb(b + PCI_PRIMARY_BUS + 2) != d->bus) {
        return false;
    }
    /* Secondary and subordinate move together: widen, move, narrow. */
    writeb(b + PCI_PRIMARY_BUS + 2, bus);
    writeb(b + PCI_PRIMARY_BUS + 1, bus);
    if (readw(cfg + PCI_VENDOR_ID) != d->vendor) {
        return false;
    }
    last_bus = bus;
    printf("PCI: %02x:%02x.%x renumbered to bus %u\n", d->bus, d->dev,
           d->fn, bus);
    d->bus = bus;
    d->cfg = cfg;
    d->rid = bus << 8 | d->dev << 3 | d->fn;
    d->devid = pci_rid_to_devid(d->rid);
    return true;
}

uint32_t pci_find_cap(struct pci_dev *d, uint8_t id)
{
    uint32_t pos, n;

    if (!(readw(d->cfg + PCI_STATUS) & PCI_STATUS_CAP_LIST)) {
        return 0;
    }
    pos = readb(d->cfg + PCI_CAPABILITY_LIST) & ~3;
    for (n = 0; pos && n < 48; n++) {
        if (readb(d->cfg + pos) == id) {
            return pos;
        }
        pos = readb(d->cfg + pos + 1) & ~3;
    }
    return 0;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | p[2] << 8 | p[3];
}

/*
 * The ITS device ID of a requester ID, by the host's msi-map: entries of
 * <rid-base msi-controller msi-base length> (our ITS has one msi cell).
 */
uint32_t pci_rid_to_devid(uint32_t rid)
{
    uint32_t i, masked = rid & dt.msi_map_mask;

    if (!dt.msi_map) {
        return rid;
    }
    for (i = 0; (i + 1) * 16 <= dt.msi_map_len; i++) {
        const uint8_t *e = dt.msi_map + i * 16;
        uint32_t base = be32(e), ph = be32(e + 4);
        uint32_t msi_base = be32(e + 8), len = be32(e + 12);

        if (masked >= base && masked - base < len) {
            if (dt.its_phandle && ph != dt.its_phandle) {
                printf("note: msi-map of RID %x points at phandle %u, not "
                       "the ITS (%u)\n", rid, ph, dt.its_phandle);
            }
            return msi_base + masked - base;
        }
    }
    return 0xffffffff;
}
