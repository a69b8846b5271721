/*
 * QTest testcase for MSI delivery through the GICv3 ITS and the GICv2m
 * frame of the arm virt machine
 *
 * Each test builds a PCI topology, programs a device's MSI capability with
 * the doorbell of the interrupt controller and makes the device raise the
 * MSI.  With an ITS, the DeviceID of the write selects the interrupt
 * translation: the tests map several DeviceIDs, each event to its own LPI,
 * and check that the LPI of the DeviceID the device really uses goes
 * pending, and no other.  QEMU gives an MSI write the requester ID of the
 * device (pci_requester_id()) as the DeviceID.
 *
 * Copyright (c) 2026 The qemu-vmsix authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "libqtest.h"
#include "libqos/libqos-malloc.h"
#include "libqos/generic-pcihost.h"
#include "libqos/gicv3-its.h"
#include "qemu/units.h"
#include "hw/pci/pci_ids.h"
#include "hw/pci/pci_regs.h"

/* The virt machine's memory map (hw/arm/virt.c) */
#define VIRT_GIC_DIST           0x08000000ULL
#define VIRT_GIC_V2M            0x08020000ULL
#define VIRT_GIC_ITS            0x08080000ULL
#define VIRT_GIC_REDIST         0x080a0000ULL
#define VIRT_RAM_BASE           0x40000000ULL
#define VIRT_RAM_SIZE           (256 * MiB)
#define VIRT_PCIE_MMIO          0x10000000ULL
#define VIRT_PCIE_MMIO_END      0x3eff0000ULL

/* GICv2 distributor */
#define GICD_ISPENDR(n)         (0x200 + 4 * ((n) / 32))
#define GICD_ICPENDR(n)         (0x280 + 4 * ((n) / 32))
#define GICD_ITARGETSR(n)       (0x800 + (n))
#define GICD_ICFGR(n)           (0xc00 + 4 * ((n) / 16))

/* GICv2m MSI frame */
#define V2M_MSI_TYPER           0x008
#define V2M_MSI_TYPER_BASE(t)   (((t) >> 16) & 0x3ff)
#define V2M_MSI_TYPER_NUM(t)    ((t) & 0x3ff)
#define V2M_MSI_SETSPI_NS       0x040

/* The edu device (hw/misc/edu.c, docs/specs/edu.rst) */
#define EDU_VENDOR_ID           0x1234
#define EDU_DEVICE_ID           0x11e8
#define EDU_REG_ID              0x00
#define EDU_ID_MAGIC            0xed
#define EDU_REG_RAISE           0x60

#define LPI_IDBITS              13
#define LPI_PRIO                0xa0
#define EVENTID_BITS            4

#define BDF(bus, slot, fn)      (((bus) << 8) | QPCI_DEVFN(slot, fn))

typedef struct TestMachine {
    QTestState *qts;
    QGuestAllocator alloc;
    QGenericPCIBus pci;
    QGICv3ITS its;
    char *log_path;
} TestMachine;

typedef struct EduDev {
    QPCIDevice *dev;
    QPCIBar bar;
    uint8_t msi_cap;
} EduDev;

static bool have_devices(const char *const *devices)
{
    for (; *devices; devices++) {
        if (!qtest_has_device(*devices)) {
            g_test_skip("device not available");
            return false;
        }
    }
    return true;
}

/*
 * Start a virt machine with @gic_version and the devices in @devices.
 * Guest errors are logged to a file of their own.
 */
static void machine_start(TestMachine *m, int gic_version,
                          const char *devices)
{
    int fd;

    memset(m, 0, sizeof(*m));
    fd = g_file_open_tmp("arm-its-msi-test-XXXXXX.log", &m->log_path, NULL);
    g_assert_cmpint(fd, >=, 0);
    close(fd);

    m->qts = qtest_initf("-M virt,gic-version=%d -cpu max -m %" PRIu64
                         " -nodefaults -d guest_errors -D %s %s",
                         gic_version, (uint64_t)(VIRT_RAM_SIZE / MiB),
                         m->log_path, devices);
    alloc_init(&m->alloc, 0, VIRT_RAM_BASE, VIRT_RAM_BASE + VIRT_RAM_SIZE,
               4096);
    qpci_init_generic(&m->pci, m->qts, &m->alloc, false);
}

static void machine_start_its(TestMachine *m, const char *devices)
{
    machine_start(m, 3, devices);
    qgicv3_its_init(&m->its, m->qts, &m->alloc, VIRT_GIC_ITS,
                    VIRT_GIC_REDIST, LPI_IDBITS);
}

/* Stop the machine, and return what it logged if @log is not NULL */
static void machine_stop(TestMachine *m, char **log)
{
    qtest_quit(m->qts);
    alloc_destroy(&m->alloc);
    if (log) {
        g_assert_true(g_file_get_contents(m->log_path, log, NULL, NULL));
    }
    unlink(m->log_path);
    g_free(m->log_path);
}

/*
 * Give a PCI-to-PCI bridge (a root port or a PCIe-to-PCI bridge) at @bdf
 * its bus numbers, and a memory window that covers every BAR the libqos
 * allocator hands out, so that devices behind it can be reached.
 */
static void bridge_setup(TestMachine *m, uint16_t bdf, uint8_t primary,
                         uint8_t secondary, uint8_t subordinate)
{
    QPCIDevice *br = qpci_device_find(&m->pci.bus, bdf);

    g_assert_nonnull(br);
    g_assert_cmphex(qpci_config_readw(br, PCI_CLASS_DEVICE), ==,
                    PCI_CLASS_BRIDGE_PCI);
    qpci_config_writeb(br, PCI_PRIMARY_BUS, primary);
    qpci_config_writeb(br, PCI_SECONDARY_BUS, secondary);
    qpci_config_writeb(br, PCI_SUBORDINATE_BUS, subordinate);
    g_assert_cmphex(qpci_config_readb(br, PCI_SECONDARY_BUS), ==, secondary);

    qpci_config_writew(br, PCI_MEMORY_BASE, (VIRT_PCIE_MMIO >> 16) & 0xfff0);
    qpci_config_writew(br, PCI_MEMORY_LIMIT,
                       ((VIRT_PCIE_MMIO_END - 1) >> 16) & 0xfff0);
    /* No I/O or prefetchable window: base above limit */
    qpci_config_writeb(br, PCI_IO_BASE, 0xf0);
    qpci_config_writeb(br, PCI_IO_LIMIT, 0x00);
    qpci_config_writew(br, PCI_PREF_MEMORY_BASE, 0xfff0);
    qpci_config_writew(br, PCI_PREF_MEMORY_LIMIT, 0x0000);
    qpci_config_writew(br, PCI_COMMAND,
                       PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    g_free(br);
}

static void edu_init(EduDev *edu, TestMachine *m, uint16_t bdf)
{
    edu->dev = qpci_device_find(&m->pci.bus, bdf);
    g_assert_nonnull(edu->dev);
    g_assert_cmphex(qpci_config_readw(edu->dev, PCI_VENDOR_ID), ==,
                    EDU_VENDOR_ID);
    g_assert_cmphex(qpci_config_readw(edu->dev, PCI_DEVICE_ID), ==,
                    EDU_DEVICE_ID);
    edu->bar = qpci_iomap(edu->dev, 0, NULL);
    qpci_device_enable(edu->dev);
    /* The BAR is reachable, through any bridges on the way */
    g_assert_cmphex(qpci_io_readl(edu->dev, edu->bar, EDU_REG_ID) & 0xff, ==,
                    EDU_ID_MAGIC);
    edu->msi_cap = qpci_find_capability(edu->dev, PCI_CAP_ID_MSI, 0);
    g_assert_cmphex(edu->msi_cap, !=, 0);
}

/* Program and enable the device's single MSI vector */
static void edu_set_msi(EduDev *edu, uint64_t addr, uint16_t data)
{
    uint8_t cap = edu->msi_cap;
    uint16_t flags = qpci_config_readw(edu->dev, cap + PCI_MSI_FLAGS);

    qpci_config_writel(edu->dev, cap + PCI_MSI_ADDRESS_LO, (uint32_t)addr);
    if (flags & PCI_MSI_FLAGS_64BIT) {
        qpci_config_writel(edu->dev, cap + PCI_MSI_ADDRESS_HI, addr >> 32);
        qpci_config_writew(edu->dev, cap + PCI_MSI_DATA_64, data);
    } else {
        g_assert_cmphex(addr >> 32, ==, 0);
        qpci_config_writew(edu->dev, cap + PCI_MSI_DATA_32, data);
    }
    flags &= ~PCI_MSI_FLAGS_QSIZE;
    flags |= PCI_MSI_FLAGS_ENABLE;
    qpci_config_writew(edu->dev, cap + PCI_MSI_FLAGS, flags);
    g_assert_true(qpci_config_readw(edu->dev, cap + PCI_MSI_FLAGS) &
                  PCI_MSI_FLAGS_ENABLE);
}

/* Raise the device's interrupt, which sends its MSI */
static void edu_raise(EduDev *edu)
{
    qpci_io_writel(edu->dev, edu->bar, EDU_REG_RAISE, 1);
}

static void edu_free(EduDev *edu)
{
    g_free(edu->dev);
}

/*
 * A device on the root bus uses its BDF as DeviceID.  Also check that the
 * MSI data is the EventID: another data value selects another event.
 */
static void test_its_root_bus(void)
{
    static const char *const devices[] = { "edu", NULL };
    const uint16_t devid = BDF(0, 4, 0);
    const uint16_t decoy = BDF(0, 4, 1);
    const uint32_t lpi = GICV3_LPI_BASE + 10;
    const uint32_t lpi_ev5 = GICV3_LPI_BASE + 11;
    const uint32_t lpi_decoy = GICV3_LPI_BASE + 12;
    TestMachine m;
    EduDev edu;

    if (!have_devices(devices)) {
        return;
    }
    machine_start_its(&m, "-device edu,bus=pcie.0,addr=04.0");
    edu_init(&edu, &m, devid);

    qgicv3_its_map_device(&m.its, devid, EVENTID_BITS);
    qgicv3_its_map_event(&m.its, devid, 3, lpi, 0, LPI_PRIO);
    qgicv3_its_map_event(&m.its, devid, 5, lpi_ev5, 0, LPI_PRIO);
    qgicv3_its_map_device(&m.its, decoy, EVENTID_BITS);
    qgicv3_its_map_event(&m.its, decoy, 3, lpi_decoy, 0, LPI_PRIO);
    g_assert_cmpuint(qgicv3_lpi_count_pending(&m.its), ==, 0);

    /* Check the harness itself: INT makes the LPI pend, CLEAR undoes it */
    qgicv3_its_int(&m.its, devid, 3);
    qgicv3_its_sync(&m.its);
    g_assert_true(qgicv3_lpi_pending(&m.its, lpi));
    g_assert_cmpuint(qgicv3_lpi_count_pending(&m.its), ==, 1);
    qgicv3_its_clear(&m.its, devid, 3);
    qgicv3_its_sync(&m.its);
    g_assert_cmpuint(qgicv3_lpi_count_pending(&m.its), ==, 0);

    /* Enabling MSI alone sends nothing */
    edu_set_msi(&edu, qgicv3_its_doorbell(&m.its), 3);
    g_assert_cmpuint(qgicv3_lpi_count_pending(&m.its), ==, 0);

    edu_raise(&edu);
    g_assert_true(qgicv3_lpi_pending(&m.its, lpi));
    g_assert_false(qgicv3_lpi_pending(&m.its, lpi_ev5));
    g_assert_false(qgicv3_lpi_pending(&m.its, lpi_decoy));
    g_assert_cmpuint(qgicv3_lpi_count_pending(&m.its), ==, 1);

    /* Another EventID in the MSI data */
    qgicv3_its_clear(&m.its, devid, 3);
    qgicv3_its_sync(&m.its);
    edu_set_msi(&edu, qgicv3_its_doorbell(&m.its), 5);
    edu_raise(&edu);
    g_assert_true(qgicv3_lpi_pending(&m.its, lpi_ev5));
    g_assert_false(qgicv3_lpi_pending(&m.its, lpi));
    g_assert_cmpuint(qgicv3_lpi_count_pending(&m.its), ==, 1);

    edu_free(&edu);
    machine_stop(&m, NULL);
}

/*
 * A device behind a PCIe root port uses its BDF on the root port's
 * secondary bus, as the guest numbered it, also after renumbering.
 */
static void test_its_root_port(void)
{
    static const char *const devices[] = { "edu", "pcie-root-port", NULL };
    const uint16_t rp = BDF(0, 2, 0);
    const uint32_t lpi_bus5 = GICV3_LPI_BASE + 20;
    const uint32_t lpi_bus0 = GICV3_LPI_BASE + 21;
    const uint32_t lpi_rp = GICV3_LPI_BASE + 22;
    const uint32_t lpi_bus7 = GICV3_LPI_BASE + 23;
    TestMachine m;
    EduDev edu;

    if (!have_devices(devices)) {
        return;
    }
    machine_start_its(&m,
                      "-device pcie-root-port,id=rp0,bus=pcie.0,chassis=1,"
                      "addr=02.0 "
                      "-device edu,bus=rp0,addr=00.0");
    bridge_setup(&m, rp, 0, 5, 5);
    edu_init(&edu, &m, BDF(5, 0, 0));
    edu_set_msi(&edu, qgicv3_its_doorbell(&m.its), 0);

    /*
     * Only wrong DeviceIDs are mapped: the device's devfn on bus 0 and
     * the root port's BDF.  The MSI must not reach either.
     */
    qgicv3_its_map_device(&m.its, BDF(0, 0, 0), EVENTID_BITS);
    qgicv3_its_map_event(&m.its, BDF(0, 0, 0), 0, lpi_bus0, 0, LPI_PRIO);
    qgicv3_its_map_device(&m.its, rp, EVENTID_BITS);
    qgicv3_its_map_event(&m.its, rp, 0, lpi_rp, 0, LPI_PRIO);
    edu_raise(&edu);
    g_assert_cmpuint(qgicv3_lpi_count_pending(&m.its), ==, 0);

    /* Now the right one, 05:00.0 */
    qgicv3_its_map_device(&m.its, BDF(5, 0, 0), EVENTID_BITS);
    qgicv3_its_map_event(&m.its, BDF(5, 0, 0), 0, lpi_bus5, 0, LPI_PRIO);
    edu_raise(&edu);
    g_assert_true(qgicv3_lpi_pending(&m.its, lpi_bus5));
    g_assert_false(qgicv3_lpi_pending(&m.its, lpi_bus0));
    g_assert_false(qgicv3_lpi_pending(&m.its, lpi_rp));
    g_assert_cmpuint(qgicv3_lpi_count_pending(&m.its), ==, 1);

    /* The guest renumbers the bus: the DeviceID follows */
    qgicv3_its_clear(&m.its, BDF(5, 0, 0), 0);
    qgicv3_its_map_device(&m.its, BDF(7, 0, 0), EVENTID_BITS);
    qgicv3_its_map_event(&m.its, BDF(7, 0, 0), 0, lpi_bus7, 0, LPI_PRIO);
    g_assert_cmpuint(qgicv3_lpi_count_pending(&m.its), ==, 0);
    bridge_setup(&m, rp, 0, 7, 7);
    edu_raise(&edu);
    g_assert_true(qgicv3_lpi_pending(&m.its, lpi_bus7));
    g_assert_false(qgicv3_lpi_pending(&m.its, lpi_bus5));
    g_assert_cmpuint(qgicv3_lpi_count_pending(&m.its), ==, 1);

    edu_free(&edu);
    machine_stop(&m, NULL);
}

/*
 * A conventional PCI device behind a PCIe-to-PCI bridge: the bridge takes
 * ownership of its transactions, which carry the requester ID (secondary
 * bus of the bridge, devfn 0), not the device's own BDF nor the bridge's
 * BDF (PCI Express to PCI/PCI-X Bridge spec, 2.3; see
 * pci_req_id_cache_get()).
 */
static void test_its_pcie_pci_bridge(void)
{
    static const char *const devices[] = {
        "edu", "pcie-root-port", "pcie-pci-bridge", NULL
    };
    const uint16_t rp = BDF(0, 2, 0);
    const uint16_t br = BDF(3, 0, 0);
    const uint16_t edu_bdf = BDF(4, 1, 0);
    const uint16_t alias = BDF(4, 0, 0);
    const uint32_t lpi_alias = GICV3_LPI_BASE + 30;
    const uint32_t lpi_bdf = GICV3_LPI_BASE + 31;
    const uint32_t lpi_br = GICV3_LPI_BASE + 32;
    TestMachine m;
    EduDev edu;

    if (!have_devices(devices)) {
        return;
    }
    machine_start_its(&m,
                      "-device pcie-root-port,id=rp0,bus=pcie.0,chassis=1,"
                      "addr=02.0 "
                      "-device pcie-pci-bridge,id=br0,bus=rp0,addr=00.0 "
                      "-device edu,bus=br0,addr=01.0");
    bridge_setup(&m, rp, 0, 3, 4);
    bridge_setup(&m, br, 3, 4, 4);
    edu_init(&edu, &m, edu_bdf);
    edu_set_msi(&edu, qgicv3_its_doorbell(&m.its), 2);

    qgicv3_its_map_device(&m.its, edu_bdf, EVENTID_BITS);
    qgicv3_its_map_event(&m.its, edu_bdf, 2, lpi_bdf, 0, LPI_PRIO);
    qgicv3_its_map_device(&m.its, br, EVENTID_BITS);
    qgicv3_its_map_event(&m.its, br, 2, lpi_br, 0, LPI_PRIO);
    edu_raise(&edu);
    g_assert_cmpuint(qgicv3_lpi_count_pending(&m.its), ==, 0);

    qgicv3_its_map_device(&m.its, alias, EVENTID_BITS);
    qgicv3_its_map_event(&m.its, alias, 2, lpi_alias, 0, LPI_PRIO);
    edu_raise(&edu);
    g_assert_true(qgicv3_lpi_pending(&m.its, lpi_alias));
    g_assert_false(qgicv3_lpi_pending(&m.its, lpi_bdf));
    g_assert_false(qgicv3_lpi_pending(&m.its, lpi_br));
    g_assert_cmpuint(qgicv3_lpi_count_pending(&m.its), ==, 1);

    edu_free(&edu);
    machine_stop(&m, NULL);
}

/*
 * An MSI from a DeviceID the ITS has no mapping for is dropped, with a
 * guest error, and the ITS keeps working.
 */
static void test_its_unmapped_devid(void)
{
    static const char *const devices[] = { "edu", NULL };
    const uint16_t devid = BDF(0, 4, 0);
    const uint16_t other = BDF(0, 5, 0);
    const uint32_t lpi_other = GICV3_LPI_BASE + 40;
    g_autofree char *log = NULL;
    g_autofree char *expect = NULL;
    TestMachine m;
    EduDev edu;

    if (!have_devices(devices)) {
        return;
    }
    machine_start_its(&m, "-device edu,bus=pcie.0,addr=04.0");
    edu_init(&edu, &m, devid);
    qgicv3_its_map_device(&m.its, other, EVENTID_BITS);
    qgicv3_its_map_event(&m.its, other, 1, lpi_other, 0, LPI_PRIO);

    edu_set_msi(&edu, qgicv3_its_doorbell(&m.its), 1);
    edu_raise(&edu);
    edu_raise(&edu);
    g_assert_cmpuint(qgicv3_lpi_count_pending(&m.its), ==, 0);

    /* QEMU is alive, the ITS still enabled and still translating */
    g_assert_cmphex(qtest_readl(m.qts, VIRT_GIC_ITS) & 1, ==, 1);
    qgicv3_its_int(&m.its, other, 1);
    qgicv3_its_sync(&m.its);
    g_assert_true(qgicv3_lpi_pending(&m.its, lpi_other));
    g_assert_cmpuint(qgicv3_lpi_count_pending(&m.its), ==, 1);

    edu_free(&edu);
    machine_stop(&m, &log);
    /* do_process_its_cmd() -> lookup_ite() logs the DeviceID in decimal */
    expect = g_strdup_printf("invalid dte for %u\n", devid);
    g_assert_nonnull(strstr(log, expect));
}

static bool gicv2_spi_pending(TestMachine *m, uint32_t intid)
{
    uint32_t val = qtest_readl(m->qts, VIRT_GIC_DIST + GICD_ISPENDR(intid));

    return val & (1U << (intid % 32));
}

/*
 * GICv2m: the MSI data is the SPI; the right SPI pends, also after the
 * guest changes the data.
 */
static void test_gicv2m(void)
{
    static const char *const devices[] = { "edu", NULL };
    TestMachine m;
    EduDev edu;
    uint32_t typer, base, num, spi, i;

    if (!have_devices(devices)) {
        return;
    }
    machine_start(&m, 2, "-device edu,bus=pcie.0,addr=04.0");
    edu_init(&edu, &m, BDF(0, 4, 0));

    typer = qtest_readl(m.qts, VIRT_GIC_V2M + V2M_MSI_TYPER);
    base = V2M_MSI_TYPER_BASE(typer);
    num = V2M_MSI_TYPER_NUM(typer);
    g_assert_cmpuint(base, >=, 32);
    g_assert_cmpuint(num, >=, 2);

    /*
     * MSIs are edges: configure the frame's SPIs as edge-triggered, or the
     * pulse the frame gives the distributor leaves nothing pending.  And
     * target them at CPU 0.
     */
    for (spi = base; spi < base + num; spi++) {
        uint64_t cfg = VIRT_GIC_DIST + GICD_ICFGR(spi);

        qtest_writel(m.qts, cfg, qtest_readl(m.qts, cfg) |
                     (2U << (2 * (spi % 16))));
        qtest_writeb(m.qts, VIRT_GIC_DIST + GICD_ITARGETSR(spi), 1);
        g_assert_false(gicv2_spi_pending(&m, spi));
    }

    edu_set_msi(&edu, VIRT_GIC_V2M + V2M_MSI_SETSPI_NS, base);
    edu_raise(&edu);
    for (i = 0; i < num; i++) {
        g_assert_cmpint(gicv2_spi_pending(&m, base + i), ==, i == 0);
    }

    /* Clear it, point the MSI at the next SPI: only that one pends */
    qtest_writel(m.qts, VIRT_GIC_DIST + GICD_ICPENDR(base),
                 1U << (base % 32));
    g_assert_false(gicv2_spi_pending(&m, base));
    edu_set_msi(&edu, VIRT_GIC_V2M + V2M_MSI_SETSPI_NS, base + 1);
    edu_raise(&edu);
    for (i = 0; i < num; i++) {
        g_assert_cmpint(gicv2_spi_pending(&m, base + i), ==, i == 1);
    }

    edu_free(&edu);
    machine_stop(&m, NULL);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    if (!qtest_has_machine("virt")) {
        g_test_skip("virt machine not available");
        return g_test_run();
    }

    qtest_add_func("/arm/its-msi/root-bus", test_its_root_bus);
    qtest_add_func("/arm/its-msi/root-port", test_its_root_port);
    qtest_add_func("/arm/its-msi/pcie-pci-bridge", test_its_pcie_pci_bridge);
    qtest_add_func("/arm/its-msi/unmapped-devid", test_its_unmapped_devid);
    qtest_add_func("/arm/gicv2m-msi/spi", test_gicv2m);

    return g_test_run();
}
