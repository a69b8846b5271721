/*
 * Unit test of the GICv2m MSI-to-SPI translation used for KVM routes
 *
 * Copyright (c) 2026 The qemu-vmsix authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "hw/intc/arm_gicv2m.h"

/* The virt machine's frame: 64 SPIs from SPI 48 (interrupt ID 80) */
#define FRAME       0x08020000ULL
#define DOORBELL    (FRAME + ARM_GICV2M_SETSPI_NS)
#define BASE_SPI    48
#define NUM_SPI     64

static int translate(uint64_t address, uint32_t data)
{
    return arm_gicv2m_msi_to_gsi(FRAME, BASE_SPI, NUM_SPI, address, data);
}

static void test_in_range(void)
{
    /* The GSI of an SPI is its interrupt ID - 32, i.e. its SPI number */
    g_assert_cmpint(translate(DOORBELL, 80), ==, 48);
    g_assert_cmpint(translate(DOORBELL, 81), ==, 49);
    g_assert_cmpint(translate(DOORBELL, 80 + NUM_SPI - 1), ==,
                    48 + NUM_SPI - 1);
}

static void test_data_follows(void)
{
    /* A new data value is a new SPI, not the one of the first route */
    int a = translate(DOORBELL, 90);
    int b = translate(DOORBELL, 91);

    g_assert_cmpint(a, ==, 58);
    g_assert_cmpint(b, ==, 59);
}

static void test_out_of_range(void)
{
    /* Data 0 used to become GSI 65504, whose interrupts vanished */
    g_assert_cmpint(translate(DOORBELL, 0), ==, -ERANGE);
    g_assert_cmpint(translate(DOORBELL, 31), ==, -ERANGE);
    g_assert_cmpint(translate(DOORBELL, 79), ==, -ERANGE);
    g_assert_cmpint(translate(DOORBELL, 80 + NUM_SPI), ==, -ERANGE);
    g_assert_cmpint(translate(DOORBELL, 1023), ==, -ERANGE);
}

static void test_high_data_bits_ignored(void)
{
    /* The frame looks at the low 10 bits only, as the device model does */
    g_assert_cmpint(translate(DOORBELL, 0xabcd0000 | 80), ==, 48);
    g_assert_cmpint(translate(DOORBELL, 0x400 | 80), ==, 48);
}

static void test_other_address(void)
{
    g_assert_cmpint(translate(FRAME, 80), ==, -ENOENT);
    g_assert_cmpint(translate(DOORBELL + 4, 80), ==, -ENOENT);
    g_assert_cmpint(translate(0x08090040, 80), ==, -ENOENT);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/gicv2m-route/in-range", test_in_range);
    g_test_add_func("/gicv2m-route/data-follows", test_data_follows);
    g_test_add_func("/gicv2m-route/out-of-range", test_out_of_range);
    g_test_add_func("/gicv2m-route/high-data-bits",
                    test_high_data_bits_ignored);
    g_test_add_func("/gicv2m-route/other-address", test_other_address);
    return g_test_run();
}
