/*
 * vmsix-payload: a bare-metal aarch64 guest that checks MSI-X delivery
 * through a GICv3 ITS exactly (docs/devel/vmsix-payload.rst).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef VMSIX_PAYLOAD_H
#define VMSIX_PAYLOAD_H

#include <stdarg.h>

typedef unsigned char uint8_t;
typedef unsigned short uint16_t;
typedef unsigned int uint32_t;
typedef unsigned long uint64_t;
typedef long int64_t;
typedef unsigned long uintptr_t;
typedef unsigned long size_t;
typedef _Bool bool;
#define true 1
#define false 0
#define NULL ((void *)0)

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define ALIGN_UP(x, a) (((x) + (a) - 1) & ~((uint64_t)(a) - 1))
#define BIT(n) (1UL << (n))

/*
 * MMIO accessors.  They are single plain loads and stores on purpose:
 * under KVM a trapped access is emulated from the syndrome, which only
 * describes simple LDR/STR without writeback, so the compiler must not
 * pick an addressing mode of its own.
 */
static inline uint32_t readl(uint64_t addr)
{
    uint32_t v;
    asm volatile("ldr %w0, [%1]" : "=r"(v) : "r"(addr) : "memory");
    return v;
}

static inline void writel(uint64_t addr, uint32_t v)
{
    asm volatile("str %w0, [%1]" : : "rZ"(v), "r"(addr) : "memory");
}

static inline uint16_t readw(uint64_t addr)
{
    uint16_t v;
    asm volatile("ldrh %w0, [%1]" : "=r"(v) : "r"(addr) : "memory");
    return v;
}

static inline void writew(uint64_t addr, uint16_t v)
{
    asm volatile("strh %w0, [%1]" : : "rZ"(v), "r"(addr) : "memory");
}

static inline uint8_t readb(uint64_t addr)
{
    uint8_t v;
    asm volatile("ldrb %w0, [%1]" : "=r"(v) : "r"(addr) : "memory");
    return v;
}

static inline void writeb(uint64_t addr, uint8_t v)
{
    asm volatile("strb %w0, [%1]" : : "rZ"(v), "r"(addr) : "memory");
}

static inline uint64_t readq(uint64_t addr)
{
    uint64_t v;
    asm volatile("ldr %0, [%1]" : "=r"(v) : "r"(addr) : "memory");
    return v;
}

static inline void writeq(uint64_t addr, uint64_t v)
{
    asm volatile("str %x0, [%1]" : : "rZ"(v), "r"(addr) : "memory");
}

#define dsb(opt) asm volatile("dsb " #opt : : : "memory")
#define isb() asm volatile("isb" : : : "memory")

#define read_sysreg(r) ({                                       \
    uint64_t __v;                                               \
    asm volatile("mrs %0, " #r : "=r"(__v) : : "memory");       \
    __v;                                                        \
})
#define write_sysreg(r, v) \
    asm volatile("msr " #r ", %0" : : "r"((uint64_t)(v)) : "memory")

/* lib.c */
void *memset(void *s, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
const char *strstr(const char *h, const char *n);
void uart_set_base(uint64_t base);
void putstr(const char *s);
int uart_getc(uint64_t deadline);
void printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void snprintf(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void vsnprintf(char *buf, size_t len, const char *fmt, va_list ap);
void psci_set_conduit(bool smc);
int64_t psci_cpu_on(uint64_t mpidr, uint64_t entry, uint64_t context);
void psci_cpu_off(void);
void power_off(void) __attribute__((noreturn));
void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
uint64_t now(void);
uint64_t ticks_per_sec(void);
uint64_t ticks_to_ns(uint64_t t);
uint64_t deadline_in_ms(uint64_t ms);
bool past(uint64_t deadline);
void watchdog_check(void);
void watchdog_set(uint64_t seconds);
void *alloc(size_t size, size_t align);
void dcache_clean_inval(const void *p, size_t len);

/* fdt.c: what the payload needs from the device tree */
struct dt_info {
    uint64_t uart;
    uint64_t mem_base, mem_size;
    uint64_t gicd, gicr, gicr_size, gicr_stride;
    uint64_t its;
    uint32_t its_phandle;
    uint64_t ecam, ecam_size;
    uint32_t bus_start, bus_end;
    uint64_t mmio32_pci, mmio32_cpu, mmio32_size;
    const uint8_t *msi_map;     /* big-endian cells, msi_map_len bytes */
    uint32_t msi_map_len;
    uint32_t msi_map_mask;
    bool psci_smc, have_psci;
    const char *bootargs;
    uint32_t ncpus;             /* "cpu" nodes; MPIDRs of the first few */
    uint64_t cpu_mpidr[4];
};
extern struct dt_info dt;
void fdt_parse(const void *fdt);

/* mmu.c */
void mmu_enable(void);

/* gic.c */
#define LPI_BASE 8192
#define LPI_MAX 8192                /* LPIs 8192..16383 (14 ID bits) */
extern uint32_t lpi_count[LPI_MAX];
extern uint64_t lpi_total;
extern uint64_t its_doorbell;
void gic_init(void);
uint32_t lpi_alloc(uint32_t n);
void its_map_device(uint32_t devid, uint32_t nevents);
void its_unmap_device(uint32_t devid);
void its_map_event(uint32_t devid, uint32_t event, uint32_t lpi);
void its_inv(uint32_t devid, uint32_t event);
void its_invall(void);
void its_sync(void);
int gic_poll(void);
void lpi_counts_reset(void);
uint64_t gic_secondary_init(uint8_t sgi_prio);
void gic_set_pmr(uint8_t pmr);
int gic_ack(void);
void gic_send_sgi(uint64_t mpidr, uint32_t intid);
void its_map_collection(uint32_t icid, uint64_t target);
void its_movi(uint32_t devid, uint32_t event, uint32_t icid);
void its_sync_target(uint64_t target);

/* start.S: where a CPU started by PSCI CPU_ON begins, with @cpu_boot in x0 */
struct cpu_boot {
    uint64_t mair, tcr, ttbr0, sctlr, vbar, sp;     /* read by start.S */
};
void secondary_entry(void);
void secondary_main(void);

/* pci.c */
#define PCI_MAX_DEVS 32
struct pci_dev {
    uint32_t bus, dev, fn;
    uint16_t vendor, device;
    uint64_t cfg;               /* ECAM address of its config space */
    uint64_t bar[6];
    uint32_t rid, devid;
    bool behind_bridge;
    uint64_t bridge_cfg;        /* the bridge right above it, or 0 */
};
extern struct pci_dev pci_devs[PCI_MAX_DEVS];
extern int pci_ndevs;
void pci_enumerate(void);
uint32_t pci_find_cap(struct pci_dev *d, uint8_t id);
uint32_t pci_rid_to_devid(uint32_t rid);
bool pci_renumber(struct pci_dev *d);

#endif
