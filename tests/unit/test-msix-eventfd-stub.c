/*
 * The eventfd-backed MSI-X vectors of hosts without epoll and eventfd
 * (hw/pci/msix-eventfd-stub.c)
 *
 * Copyright (c) 2026 The qemu-vmsix authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "hw/pci/msix-eventfd.h"

/* A device that asks for them gets an error it can fail realize with */
static void test_new_fails(void)
{
    Error *err = NULL;

    g_assert_null(msix_eventfds_new("dev0", 4, msix_eventfds_pci_ops(true),
                                    NULL, &err));
    g_assert_nonnull(err);
    g_assert_nonnull(strstr(error_get_pretty(err), "dev0"));
    g_assert_nonnull(strstr(error_get_pretty(err), "epoll"));
    error_free(err);
    msix_eventfds_free(NULL);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/msix-eventfd-stub/new-fails", test_new_fails);
    return g_test_run();
}
