/*
 * Register interface of the msix-testdev PCIe test device
 *
 * Shared by the device model and its qtest; see
 * docs/specs/msix-testdev.rst for the meaning of each register.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_MISC_MSIX_TESTDEV_REGS_H
#define HW_MISC_MSIX_TESTDEV_REGS_H

#define MSIX_TESTDEV_VENDOR_ID          0x1b36  /* Red Hat / QEMU */
#define MSIX_TESTDEV_DEVICE_ID          0x00f0

#define MSIX_TESTDEV_MIN_VECTORS        1
#define MSIX_TESTDEV_MAX_VECTORS        2048

/* BAR numbers */
#define MSIX_TESTDEV_REG_BAR            0
#define MSIX_TESTDEV_SINK_BAR           1
#define MSIX_TESTDEV_MSIX_BAR           2
#define MSIX_TESTDEV_PBA_BAR            3   /* "split-bar" layout only */

/* Size of the register block at the start of the register BAR */
#define MSIX_TESTDEV_REG_SIZE           0x1000

/* Register BAR: 32-bit registers, 4-byte accesses only */
#define MSIX_TESTDEV_REG_ID             0x000   /* RO */
#define MSIX_TESTDEV_REG_VERSION        0x004   /* RO */
#define MSIX_TESTDEV_REG_VECTORS        0x008   /* RO */
#define MSIX_TESTDEV_REG_FEATURES       0x00c   /* RO */
#define MSIX_TESTDEV_REG_RAISE          0x010   /* WO */
#define MSIX_TESTDEV_REG_RANGE_FIRST    0x014   /* RW */
#define MSIX_TESTDEV_REG_RANGE_COUNT    0x018   /* RW, write raises */
#define MSIX_TESTDEV_REG_RAISE_ALL      0x01c   /* WO */
#define MSIX_TESTDEV_REG_RAISE_TOTAL    0x020   /* RO */
#define MSIX_TESTDEV_REG_RAISE_DISABLED 0x024   /* RO */
#define MSIX_TESTDEV_REG_RAISE_MASKED   0x028   /* RO */
#define MSIX_TESTDEV_REG_BAD_INPUT      0x02c   /* RO */
#define MSIX_TESTDEV_REG_VEC_SEL        0x030   /* RW */
#define MSIX_TESTDEV_REG_VEC_COUNT      0x034   /* RO */
#define MSIX_TESTDEV_REG_COUNTER_RESET  0x038   /* WO */
#define MSIX_TESTDEV_REG_AUTO_FIRST     0x040   /* RW */
#define MSIX_TESTDEV_REG_AUTO_COUNT     0x044   /* RW */
#define MSIX_TESTDEV_REG_AUTO_PERIOD    0x048   /* RW, microseconds */
#define MSIX_TESTDEV_REG_AUTO_CTRL      0x04c   /* RW */
#define MSIX_TESTDEV_REG_AUTO_TICKS     0x050   /* RO */
#define MSIX_TESTDEV_REG_MSI_RAISE      0x060   /* WO */
#define MSIX_TESTDEV_REG_INTX           0x064   /* RW */

#define MSIX_TESTDEV_ID_VALUE           0x4d535854  /* "MSXT" */
#define MSIX_TESTDEV_VERSION_VALUE      0x00010000  /* 1.0 */

/* FEATURES */
#define MSIX_TESTDEV_FEAT_LAYOUT_MASK   0x0000000f
#define MSIX_TESTDEV_FEAT_MSI           (1u << 4)
#define MSIX_TESTDEV_FEAT_INTX          (1u << 5)
#define MSIX_TESTDEV_FEAT_SINK          (1u << 6)
#define MSIX_TESTDEV_FEAT_EVENTFD       (1u << 7)
#define MSIX_TESTDEV_FEAT_CONSUMER      (1u << 8)

/* Values of FEATURES[3:0] */
#define MSIX_TESTDEV_LAYOUT_OWN_BAR     0
#define MSIX_TESTDEV_LAYOUT_SHARED_BAR  1
#define MSIX_TESTDEV_LAYOUT_SAME_PAGE   2
#define MSIX_TESTDEV_LAYOUT_SPLIT_BAR   3

/* AUTO_CTRL */
#define MSIX_TESTDEV_AUTO_RUN           (1u << 0)

/* INTX */
#define MSIX_TESTDEV_INTX_LEVEL         (1u << 0)

/* Sink BAR */
#define MSIX_TESTDEV_SINK_SIZE          0x4000
#define MSIX_TESTDEV_SINK_SLOTS         2048        /* one per 4 bytes */
#define MSIX_TESTDEV_SINK_SLOT(n)       ((n) * 4)   /* RW: count / count it */
#define MSIX_TESTDEV_SINK_TOTAL         0x2000      /* RO */
#define MSIX_TESTDEV_SINK_LAST_DATA     0x2004      /* RO */
#define MSIX_TESTDEV_SINK_LAST_RID      0x2008      /* RO */
#define MSIX_TESTDEV_SINK_LAST_SLOT     0x200c      /* RO */
#define MSIX_TESTDEV_SINK_RESET         0x2010      /* WO */

#define MSIX_TESTDEV_SINK_NO_SLOT       0xffffffff

#endif
