/*
 * The entry points of a libFuzzer target
 *
 * Copyright (c) 2026 The qemu-vmsix authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * libFuzzer's main() calls them; -Wmissing-prototypes wants them
 * declared.
 */

#ifndef TESTS_UNIT_LIBFUZZER_H
#define TESTS_UNIT_LIBFUZZER_H

/* Once, before the first input */
int LLVMFuzzerInitialize(int *argc, char ***argv);
/* For every input: returns 0 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
