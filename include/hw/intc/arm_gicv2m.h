/*
 * GICv2m: the MSI-to-SPI translation of a frame
 *
 * Copyright (c) 2026 The qemu-vmsix authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_INTC_ARM_GICV2M_H
#define HW_INTC_ARM_GICV2M_H

/* The frame's doorbell: MSI_SETSPI_NS */
#define ARM_GICV2M_SETSPI_NS    0x040

/**
 * arm_gicv2m_msi_to_gsi:
 * @frame: guest physical address of the frame
 * @base_spi: the frame's first SPI, counted from the first SPI (ID 32)
 * @num_spi: number of SPIs of the frame
 * @address: the MSI's address
 * @data: the MSI's data
 *
 * A GICv2m frame raises the SPI whose interrupt ID is in the low 10 bits
 * of the data written to its doorbell, if the frame owns that SPI.
 *
 * Returns: the KVM GSI of that SPI (its interrupt ID - 32), -ENOENT if
 * @address is not the frame's doorbell, -ERANGE if @data names an
 * interrupt the frame does not own.
 */
static inline int arm_gicv2m_msi_to_gsi(uint64_t frame, uint32_t base_spi,
                                        uint32_t num_spi, uint64_t address,
                                        uint32_t data)
{
    uint32_t intid = data & 0x3ff;
    uint32_t first = base_spi + 32;

    if (address != frame + ARM_GICV2M_SETSPI_NS) {
        return -ENOENT;
    }
    if (intid < first || intid - first >= num_spi) {
        return -ERANGE;
    }
    return intid - 32;
}

#endif
