/*
 * QTest: MSI-X state of emulated devices across a migration, also
 * between two QEMU binaries
 *
 * An e1000e, a virtio-net-pci and a virtio-blk-pci have one vector each
 * aimed at a word of guest RAM.  On the source each vector is shown to
 * deliver, then masked and raised, so that its pending bit is set; on
 * the destination the pending bit must still be set and nothing
 * delivered, the unmask must deliver the pending message, and the next
 * raise must deliver again.  With QTEST_QEMU_BINARY_SRC and
 * QTEST_QEMU_BINARY_DST naming two builds (say, a release and a build
 * with changes to hw/pci), this shows that their migration streams of
 * these devices agree.
 *
 * Copyright (c) 2026 The qemu-vmsix authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "libqtest.h"
#include "libqos/pci.h"
#include "libqos/generic-pcihost.h"
#include "qemu/bitops.h"
#include "hw/pci/pci_regs.h"
#include "hw/net/e1000_regs.h"
#include "standard-headers/linux/virtio_config.h"
#include "standard-headers/linux/virtio_pci.h"
#include "qobject/qdict.h"

#define RAM_BASE        0x40000000ULL
#define SINK_BASE       (RAM_BASE + 0x1000000)
#define MSG_DATA        0x4d530000
#define MIGRATE_WAIT_S  60
#define RAISE_WAIT_S    10

/* Longer than e1000e's interrupt throttle holds an interrupt back */
#define E1000E_THROTTLE_NS (1000 * 1000)

typedef struct MigDev MigDev;

struct MigDev {
    const char *name;
    int slot;
    const char *args;           /* the -device option and what it needs */
    unsigned vector;
    bool virtio;
    unsigned bars;              /* the memory BARs it has, a bit each */
    void (*setup)(QTestState *qts, MigDev *d);
    void (*raise)(QTestState *qts, MigDev *d);
    void (*ack)(QTestState *qts, MigDev *d);
    /* per QEMU, set up by dev_find() */
    QPCIDevice *dev;
    uint8_t cap;
    uint64_t table, pba;        /* guest-physical */
    uint64_t regs;              /* e1000e: BAR 0; virtio: common config */
    unsigned raises;            /* virtio-blk: its size grows by each */
};

typedef struct Mig {
    QTestState *qts;
    QGenericPCIBus gbus;
} Mig;

static char *disk_path;

static uint64_t sink_addr(MigDev *d)
{
    return SINK_BASE + d->slot * 0x100;
}

static uint32_t msg_data(MigDev *d)
{
    return MSG_DATA | d->slot;
}

/* Where BAR @bir is: programmed on the source, migrated to the destination */
static uint64_t bar_addr(QPCIDevice *dev, int bir)
{
    int reg = PCI_BASE_ADDRESS_0 + bir * 4;
    uint32_t lo = qpci_config_readl(dev, reg);
    uint64_t addr = lo & PCI_BASE_ADDRESS_MEM_MASK;

    g_assert(!(lo & PCI_BASE_ADDRESS_SPACE_IO));
    if ((lo & PCI_BASE_ADDRESS_MEM_TYPE_MASK) == PCI_BASE_ADDRESS_MEM_TYPE_64) {
        addr |= (uint64_t)qpci_config_readl(dev, reg + 4) << 32;
    }
    g_assert(addr);
    return addr;
}

/* The virtio structure of @type: its address in guest-physical space */
static uint64_t virtio_cfg_addr(QPCIDevice *dev, uint8_t type)
{
    uint8_t cap = 0;

    while ((cap = qpci_find_capability(dev, PCI_CAP_ID_VNDR, cap))) {
        if (qpci_config_readb(dev, cap + 3) == type) {
            int bar = qpci_config_readb(dev, cap + 4);

            return bar_addr(dev, bar) + qpci_config_readl(dev, cap + 8);
        }
    }
    g_assert_not_reached();
}

/*
 * Find @d on @m's bus.  On the source, give its BARs addresses first; on
 * the destination they came with the migration.
 */
static void dev_find(Mig *m, MigDev *d, bool source)
{
    uint32_t val;
    int bir;

    d->dev = qpci_device_find(&m->gbus.bus, QPCI_DEVFN(d->slot, 0));
    g_assert(d->dev);
    if (source) {
        for (bir = 0; bir < 6; bir++) {
            if (d->bars & BIT(bir)) {
                qpci_iomap(d->dev, bir, NULL);
            }
        }
        qpci_device_enable(d->dev);
    }
    d->cap = qpci_find_capability(d->dev, PCI_CAP_ID_MSIX, 0);
    g_assert(d->cap);
    val = qpci_config_readl(d->dev, d->cap + PCI_MSIX_TABLE);
    d->table = bar_addr(d->dev, val & PCI_MSIX_TABLE_BIR) +
               (val & PCI_MSIX_TABLE_OFFSET);
    val = qpci_config_readl(d->dev, d->cap + PCI_MSIX_PBA);
    d->pba = bar_addr(d->dev, val & PCI_MSIX_PBA_BIR) +
             (val & PCI_MSIX_PBA_OFFSET);
    d->regs = d->virtio ? virtio_cfg_addr(d->dev, VIRTIO_PCI_CAP_COMMON_CFG)
                        : bar_addr(d->dev, 0);
}

static uint64_t entry(MigDev *d)
{
    return d->table + d->vector * PCI_MSIX_ENTRY_SIZE;
}

static void vector_mask(QTestState *qts, MigDev *d, bool mask)
{
    qtest_writel(qts, entry(d) + PCI_MSIX_ENTRY_VECTOR_CTRL,
                 mask ? PCI_MSIX_ENTRY_CTRL_MASKBIT : 0);
}

static bool vector_pending(QTestState *qts, MigDev *d)
{
    uint64_t word = qtest_readq(qts, d->pba + d->vector / 64 * 8);

    return word & (1ULL << (d->vector % 64));
}

static uint32_t sink_take(QTestState *qts, MigDev *d)
{
    uint32_t val = qtest_readl(qts, sink_addr(d));

    qtest_writel(qts, sink_addr(d), 0);
    return val;
}

/*
 * virtio-blk sends its config interrupt from a bottom half, after
 * block_resize has returned: wait for the message, or for the pending
 * bit a masked vector gets instead.
 */
static uint32_t sink_wait(QTestState *qts, MigDev *d)
{
    gint64 deadline = g_get_monotonic_time() + RAISE_WAIT_S * G_USEC_PER_SEC;

    while (!qtest_readl(qts, sink_addr(d)) &&
           g_get_monotonic_time() < deadline) {
        g_usleep(1000);
    }
    return sink_take(qts, d);
}

static bool pending_wait(QTestState *qts, MigDev *d)
{
    gint64 deadline = g_get_monotonic_time() + RAISE_WAIT_S * G_USEC_PER_SEC;

    while (!vector_pending(qts, d) && g_get_monotonic_time() < deadline) {
        g_usleep(1000);
    }
    return vector_pending(qts, d);
}

/* MSI-X on, every vector masked but @d's, which writes to its sink */
static void msix_start(QTestState *qts, MigDev *d)
{
    unsigned n = (qpci_config_readw(d->dev, d->cap + PCI_MSIX_FLAGS) &
                  PCI_MSIX_FLAGS_QSIZE) + 1, i;

    g_assert_cmpuint(d->vector, <, n);
    qpci_config_writew(d->dev, d->cap + PCI_MSIX_FLAGS,
                       PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
    for (i = 0; i < n; i++) {
        uint64_t e = d->table + i * PCI_MSIX_ENTRY_SIZE;

        qtest_writel(qts, e + PCI_MSIX_ENTRY_LOWER_ADDR, sink_addr(d));
        qtest_writel(qts, e + PCI_MSIX_ENTRY_UPPER_ADDR, sink_addr(d) >> 32);
        qtest_writel(qts, e + PCI_MSIX_ENTRY_DATA, msg_data(d));
        qtest_writel(qts, e + PCI_MSIX_ENTRY_VECTOR_CTRL,
                     i == d->vector ? 0 : PCI_MSIX_ENTRY_CTRL_MASKBIT);
    }
    qpci_config_writew(d->dev, d->cap + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE);
    sink_take(qts, d);
}

static void e1000e_setup(QTestState *qts, MigDev *d)
{
    qtest_writel(qts, d->regs + E1000_IVAR,
                 (d->vector | E1000_IVAR_INT_ALLOC_VALID) <<
                 E1000_IVAR_TXQ0_SHIFT);
    qtest_writel(qts, d->regs + E1000_IMS, E1000_ICR_TXQ0);
}

/*
 * A transmit interrupt; a driver acknowledges it before the next one.
 * The interrupt throttle holds every interrupt after the first for a
 * while (E1000E_MIN_XITR), on the virtual clock, which a qtest moves.
 */
static void e1000e_raise(QTestState *qts, MigDev *d)
{
    qtest_writel(qts, d->regs + E1000_ICS, E1000_ICR_TXQ0);
    qtest_clock_step(qts, E1000E_THROTTLE_NS);
}

static void e1000e_ack(QTestState *qts, MigDev *d)
{
    qtest_writel(qts, d->regs + E1000_ICR, E1000_ICR_TXQ0);
}

/*
 * A virtio 1.0 driver that takes no queue: config interrupts only.  It
 * asks for VERSION_1 alone, which every virtio 1.0 device offers, so it
 * need not read the device's features first.
 */
static void virtio_setup(QTestState *qts, MigDev *d)
{
    uint64_t c = d->regs;
    uint8_t status = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER;

    qtest_writeb(qts, c + VIRTIO_PCI_COMMON_STATUS, 0);
    qtest_writeb(qts, c + VIRTIO_PCI_COMMON_STATUS, status);
    qtest_writel(qts, c + VIRTIO_PCI_COMMON_GFSELECT, 1);
    qtest_writel(qts, c + VIRTIO_PCI_COMMON_GF,
                 1u << (VIRTIO_F_VERSION_1 - 32));
    status |= VIRTIO_CONFIG_S_FEATURES_OK;
    qtest_writeb(qts, c + VIRTIO_PCI_COMMON_STATUS, status);
    g_assert_cmphex(qtest_readb(qts, c + VIRTIO_PCI_COMMON_STATUS), ==, status);
    qtest_writew(qts, c + VIRTIO_PCI_COMMON_MSIX, d->vector);
    g_assert_cmpuint(qtest_readw(qts, c + VIRTIO_PCI_COMMON_MSIX), ==,
                     d->vector);
    qtest_writeb(qts, c + VIRTIO_PCI_COMMON_STATUS,
                 status | VIRTIO_CONFIG_S_DRIVER_OK);
}

/* A link change is a config interrupt */
static void virtio_net_raise(QTestState *qts, MigDev *d)
{
    qtest_qmp_assert_success(qts, "{'execute': 'set_link', 'arguments': "
                             "{'name': 'net0', 'up': %i}}",
                             d->raises++ % 2 != 0);
}

/* So is a resize */
static void virtio_blk_raise(QTestState *qts, MigDev *d)
{
    qtest_qmp_assert_success(qts, "{'execute': 'block_resize', "
                             "'arguments': {'node-name': 'disk0', "
                             "'size': %u}}", (++d->raises + 1) * 4096);
}

static MigDev devs[] = {
    { .name = "e1000e", .slot = 2, .vector = 1, .bars = BIT(0) | BIT(3),
      .args = "-device e1000e,romfile=,addr=2.0",
      .setup = e1000e_setup, .raise = e1000e_raise, .ack = e1000e_ack },
    { .name = "virtio-net-pci", .slot = 3, .vector = 2, .virtio = true,
      .bars = BIT(1) | BIT(4),
      .args = "-device virtio-net-pci,id=net0,romfile=,disable-legacy=on,"
              "addr=3.0",
      .setup = virtio_setup, .raise = virtio_net_raise },
    { .name = "virtio-blk-pci", .slot = 4, .vector = 0, .virtio = true,
      .bars = BIT(1) | BIT(4),
      .args = "-device virtio-blk-pci,drive=disk0,disable-legacy=on,addr=4.0",
      .setup = virtio_setup, .raise = virtio_blk_raise },
};

static void acknowledge(QTestState *qts, MigDev *d)
{
    if (d->ack) {
        d->ack(qts, d);
    }
}

static void mig_start(Mig *m, const char *var, const char *incoming)
{
    g_autoptr(GString) args = g_string_new("-M virt,gic-version=3 -cpu max "
                                           "-m 512M -nodefaults ");
    unsigned i;

    g_string_append_printf(args, "-blockdev driver=file,filename=%s,"
                           "node-name=disk0,locking=off ", disk_path);
    for (i = 0; i < ARRAY_SIZE(devs); i++) {
        g_string_append_printf(args, "%s ", devs[i].args);
    }
    if (incoming) {
        g_string_append_printf(args, "-incoming %s", incoming);
    }
    m->qts = qtest_init_with_env(var, args->str, true);
    qpci_init_generic(&m->gbus, m->qts, NULL, false);
}

static void mig_stop(Mig *m)
{
    unsigned i;

    for (i = 0; i < ARRAY_SIZE(devs); i++) {
        g_free(devs[i].dev);
        devs[i].dev = NULL;
    }
    qtest_quit(m->qts);
}

static void migrate(Mig *src, Mig *dst, const char *uri)
{
    gint64 deadline = g_get_monotonic_time() + MIGRATE_WAIT_S * G_USEC_PER_SEC;
    QDict *rsp, *ret;
    const char *status;

    qtest_qmp_assert_success(src->qts, "{'execute': 'migrate', "
                             "'arguments': {'uri': %s}}", uri);
    for (;;) {
        rsp = qtest_qmp(src->qts, "{'execute': 'query-migrate'}");
        ret = qdict_get_qdict(rsp, "return");
        status = qdict_get_try_str(ret, "status");
        g_assert(status);
        if (!strcmp(status, "completed")) {
            qobject_unref(rsp);
            break;
        }
        g_assert_cmpstr(status, !=, "failed");
        qobject_unref(rsp);
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(10 * 1000);
    }
    qtest_qmp_eventwait(dst->qts, "RESUME");
}

static void test_migrate(void)
{
    g_autofree char *tmp = g_dir_make_tmp("msix-migrate-XXXXXX", NULL);
    g_autofree char *sock = g_build_filename(tmp, "mig.sock", NULL);
    g_autofree char *uri = g_strdup_printf("unix:%s", sock);
    Mig src, dst;
    unsigned i;
    int fd;

    g_assert(tmp);
    disk_path = g_build_filename(tmp, "disk.raw", NULL);
    fd = open(disk_path, O_CREAT | O_RDWR, 0600);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(ftruncate(fd, 4096), ==, 0);
    close(fd);

    mig_start(&src, "QTEST_QEMU_BINARY_SRC", NULL);
    for (i = 0; i < ARRAY_SIZE(devs); i++) {
        MigDev *d = &devs[i];

        dev_find(&src, d, true);
        msix_start(src.qts, d);
        d->setup(src.qts, d);
        sink_take(src.qts, d);
        /* It delivers on the source... */
        d->raise(src.qts, d);
        g_assert_cmphex(sink_wait(src.qts, d), ==, msg_data(d));
        acknowledge(src.qts, d);
        /* ...and, masked, sets its pending bit instead */
        vector_mask(src.qts, d, true);
        d->raise(src.qts, d);
        g_assert_true(pending_wait(src.qts, d));
        g_assert_cmphex(sink_take(src.qts, d), ==, 0);
    }

    mig_start(&dst, "QTEST_QEMU_BINARY_DST", uri);
    migrate(&src, &dst, uri);
    mig_stop(&src);

    for (i = 0; i < ARRAY_SIZE(devs); i++) {
        MigDev *d = &devs[i];

        dev_find(&dst, d, false);
        g_test_message("%s: vector %u after the migration", d->name,
                       d->vector);
        g_assert_true(vector_pending(dst.qts, d));
        g_assert_cmphex(sink_take(dst.qts, d), ==, 0);
        vector_mask(dst.qts, d, false);
        g_assert_cmphex(sink_take(dst.qts, d), ==, msg_data(d));
        g_assert_false(vector_pending(dst.qts, d));
        acknowledge(dst.qts, d);
        d->raise(dst.qts, d);
        g_assert_cmphex(sink_wait(dst.qts, d), ==, msg_data(d));
    }
    mig_stop(&dst);

    unlink(disk_path);
    g_free(disk_path);
    disk_path = NULL;
    unlink(sock);
    rmdir(tmp);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qtest_add_func("msix-migrate/pending", test_migrate);
    return g_test_run();
}
