/*
 * libqos driver for the LPI side of a GICv3: redistributor and ITS
 *
 * Copyright (c) 2026 The qemu-vmsix authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef LIBQOS_GICV3_ITS_H
#define LIBQOS_GICV3_ITS_H

#include "../libqtest.h"
#include "libqos-malloc.h"

/* First INTID of the LPI range */
#define GICV3_LPI_BASE              8192

/* Offset of GITS_TRANSLATER from the base of the ITS (second 64K frame) */
#define GITS_TRANSLATER_OFFSET      0x10040

/*
 * QGICv3ITS:
 *
 * State of a GICv3 ITS and of the redistributor of CPU 0, programmed
 * entirely from the test through MMIO accesses and guest memory.  All
 * tables (LPI configuration and pending tables, ITS device, collection
 * and interrupt translation tables, command queue) live in guest RAM
 * obtained from @alloc.
 */
typedef struct QGICv3ITS {
    QTestState *qts;
    QGuestAllocator *alloc;
    uint64_t its_base;
    uint64_t rd_base;

    /* GICR_PROPBASER.IDbits: LPIs are INTIDs up to 2^(lpi_idbits + 1) - 1 */
    unsigned lpi_idbits;
    uint64_t prop_table;
    uint64_t pend_table;

    uint64_t typer;
    /* What MAPC and SYNC put in their RDbase field for CPU 0 */
    uint64_t rdbase_target;
    /* Size of an interrupt translation table entry, from GITS_TYPER */
    unsigned itt_entry_size;
    /* Number of DeviceID bits the ITS implements, from GITS_TYPER */
    unsigned devid_bits;

    uint64_t cmdq;
    uint32_t cmdq_size;
    uint32_t cwriter;
} QGICv3ITS;

/*
 * qgicv3_its_init:
 * @its: the object to initialize
 * @qts: the QTestState
 * @alloc: allocator for guest RAM, used for all tables
 * @its_base: guest physical address of the ITS control frame
 * @redist_base: guest physical address of the redistributor of CPU 0
 * @lpi_idbits: GICR_PROPBASER.IDbits to use (at least 13)
 *
 * Enables LPIs on the redistributor of CPU 0, gives the ITS flat device
 * and collection tables and a command queue, enables the ITS and maps
 * collection 0 to CPU 0.
 */
void qgicv3_its_init(QGICv3ITS *its, QTestState *qts, QGuestAllocator *alloc,
                     uint64_t its_base, uint64_t redist_base,
                     unsigned lpi_idbits);

/* Guest physical address of GITS_TRANSLATER, the MSI doorbell */
uint64_t qgicv3_its_doorbell(QGICv3ITS *its);

/* Queue one command packet (four little-endian doublewords) */
void qgicv3_its_cmd(QGICv3ITS *its, uint64_t dw0, uint64_t dw1,
                    uint64_t dw2, uint64_t dw3);

/* Wait until the ITS has consumed all queued commands */
void qgicv3_its_wait(QGICv3ITS *its);

/*
 * Individual commands.  They are only queued: follow them with
 * qgicv3_its_sync(), which queues a SYNC and waits for the queue to drain.
 */
void qgicv3_its_mapd(QGICv3ITS *its, uint32_t devid, uint64_t itt,
                     unsigned eventid_bits, bool valid);
void qgicv3_its_mapc(QGICv3ITS *its, uint16_t icid, bool valid);
void qgicv3_its_mapti(QGICv3ITS *its, uint32_t devid, uint32_t eventid,
                      uint32_t intid, uint16_t icid);
void qgicv3_its_int(QGICv3ITS *its, uint32_t devid, uint32_t eventid);
void qgicv3_its_clear(QGICv3ITS *its, uint32_t devid, uint32_t eventid);
void qgicv3_its_inv(QGICv3ITS *its, uint32_t devid, uint32_t eventid);
void qgicv3_its_invall(QGICv3ITS *its, uint16_t icid);
void qgicv3_its_sync(QGICv3ITS *its);

/*
 * qgicv3_its_map_device:
 * Allocate an interrupt translation table for @eventid_bits bits of
 * EventID and map @devid to it (MAPD + SYNC).
 */
void qgicv3_its_map_device(QGICv3ITS *its, uint32_t devid,
                           unsigned eventid_bits);

/*
 * qgicv3_its_map_event:
 * Enable LPI @intid with priority @prio in the LPI configuration table and
 * route (@devid, @eventid) to it through collection @icid (MAPTI + INV +
 * SYNC).  @devid must have been mapped with qgicv3_its_map_device().
 */
void qgicv3_its_map_event(QGICv3ITS *its, uint32_t devid, uint32_t eventid,
                          uint32_t intid, uint16_t icid, uint8_t prio);

/* Write the LPI configuration table entry of @intid */
void qgicv3_lpi_config(QGICv3ITS *its, uint32_t intid, bool enabled,
                       uint8_t prio);

/*
 * qgicv3_lpi_pending:
 * Whether LPI @intid is pending for CPU 0, read from the LPI pending table
 * in guest memory.  See gicv3-its.c for why this is a reliable observable.
 */
bool qgicv3_lpi_pending(QGICv3ITS *its, uint32_t intid);

/* Number of LPIs pending for CPU 0 */
unsigned qgicv3_lpi_count_pending(QGICv3ITS *its);

#endif
