#!/usr/bin/env python3
# Writes the seeds of the fuzz tier (vmsix/fuzz.sh) into tests/fuzz/NAME/:
# a few inputs that reach each kind of operation, from which libFuzzer
# starts.  Run it again after changing an input format.
import os
import struct

TOP = os.path.dirname(os.path.abspath(__file__))

# fuzz-msix-engine (tests/unit/fuzz-msix-engine.c): a header (MSI-X table
# size - 1, bit 7: per-vector host allocation; log2 of MSI's vectors),
# then operations, an opcode byte and its arguments.
RAISE, TABLE, MSIX_CAP, MSI_CAP, PBA, MSI_READ, HOST, KVM, AT_ENABLE, LOOP = range(10)
B1, B2, B4, B8 = range(4)


def table(off, size, *data):
    return bytes([TABLE, off & 0xff, off >> 8, size, *data])


def msix_ctrl(value):
    return bytes([MSIX_CAP, 3, B1, value])


def msi_cap(off, size, *data):
    return bytes([MSI_CAP, off, size, *data])


def ctrl(v, masked):
    return table(16 * v + 12, B1, int(masked))


ENGINE = {
    'msix-mask-pba': bytes([3, 0]) + msix_ctrl(0x80) + ctrl(0, 0) + ctrl(1, 0) +
        bytes([RAISE, 0, RAISE, 1]) + ctrl(1, 1) + bytes([RAISE, 1, PBA, 0, 3]) +
        ctrl(1, 0) + msix_ctrl(0),
    'msi-mme': bytes([0, 3]) + msi_cap(2, B1, 0x21) + bytes([RAISE, 2]) +
        msi_cap(16, B4, 4, 0, 0, 0) + bytes([RAISE, 2, MSI_READ]) +
        msi_cap(16, B4, 0, 0, 0, 0) + msi_cap(12, B2, 0x40, 0) +
        msi_cap(2, B1, 0x01) + bytes([RAISE, 3]) + msi_cap(2, B1, 0),
    'host-kvm-refuse': bytes([0x87, 0]) + bytes([HOST, 4, KVM, 7]) +
        msix_ctrl(0x80) + table(8, B8, 0x10, 0, 0, 0, 0, 0, 0, 0) + ctrl(1, 0) +
        ctrl(2, 0) + ctrl(3, 0) + bytes([RAISE, 0, RAISE, 1, RAISE, 2, RAISE, 3,
                                         LOOP, HOST, 2]) + msix_ctrl(0) +
        msix_ctrl(0x80),
    'maskall-message': bytes([15, 5]) + msix_ctrl(0xc0) + ctrl(2, 0) +
        bytes([RAISE, 2]) + table(40, B4, 0x22, 0, 0, 0) + msix_ctrl(0x80) +
        table(40, B4, 0x23, 0, 0, 0) + ctrl(2, 1) + table(40, B4, 0x24, 0, 0, 0) +
        ctrl(2, 0) + bytes([RAISE, 2]),
    'msi-to-msix': bytes([7, 1]) + bytes([AT_ENABLE, 0]) + msi_cap(2, B1, 0x11) +
        bytes([RAISE, 1]) + msix_ctrl(0x80) + ctrl(0, 0) + bytes([RAISE, 0]) +
        msi_cap(2, B1, 0x10) + msi_cap(2, B1, 0x11) + bytes([KVM, 2, RAISE, 0]),
}

# generic-fuzz (tests/qtest/fuzz/generic_fuzz.c): operations separated by
# "FUZZ"; pci_write is opcode 5 with size (2: 4 bytes), device, offset,
# a padding byte and the value.  msix-testdev has MSI at 0x50 and MSI-X
# at 0x70; devices 0 to 3 are the msix-testdevs, 4 and 5 virtio.
SEP = b'FUZZ'


def pci_write(dev, off, value):
    return bytes([5, 2, dev, off, 0]) + struct.pack('<I', value)


def mmio_write(region, off, value):
    return bytes([3, 2, region, 0, 0]) + struct.pack('<IQ', off, value)[:12]


# clock_step (opcode 9) before any device has armed a timer: virt has
# no deadline then, and qtest refuses the step (patch "fuzz: generic-fuzz
# reaches PCI devices on Arm's virt machine" skips it)
CLOCK_STEP = bytes([9])

# Which region an MMIO operation reaches depends on the memory map, so
# these write the same offsets into each of the first REGIONS fuzzable
# regions: entry 0 of an MSI-X table aimed at the ITS and unmasked, then
# msix-testdev's RAISE (0x10), RAISE_ALL (0x1c) and MSI_RAISE (0x60).
REGIONS = 24
ITS_DOORBELL = 0x08090040


def every_region(*writes):
    return SEP.join(mmio_write(r, off, value)
                    for r in range(REGIONS) for off, value in writes)


GENERIC = {
    'msix-raise': SEP.join(pci_write(d, 0x70, 0x80000000) for d in range(4)) +
        SEP + every_region((0, ITS_DOORBELL), (8, 0), (12, 0)) + SEP +
        every_region((0x10, 0), (0x1c, 0)),
    'msi-raise': SEP.join(pci_write(d, 0x54, ITS_DOORBELL) for d in range(4)) +
        SEP + SEP.join(pci_write(d, 0x50, 0x00010000) for d in range(4)) +
        SEP + every_region((0x60, 0)),
    'clock-step': CLOCK_STEP + SEP + pci_write(0, 0x70, 0x80000000) + SEP +
        CLOCK_STEP,
    'msix-enable': SEP.join(pci_write(d, 0x70, 0x80000000) for d in range(4)),
    'msi-enable': SEP.join(pci_write(d, 0x50, 0x00010000) for d in range(4)),
    'msix-maskall': SEP.join(pci_write(d, 0x70, 0xc0000000) for d in range(4)) +
        SEP + SEP.join(mmio_write(r, 12, 0) for r in range(8)) + SEP +
        SEP.join(pci_write(d, 0x70, 0x80000000) for d in range(4)),
}

for name, seeds in (('msix-engine', ENGINE), ('generic-virt', GENERIC)):
    os.makedirs(os.path.join(TOP, name), exist_ok=True)
    for seed, data in seeds.items():
        with open(os.path.join(TOP, name, seed), 'wb') as f:
            f.write(data)
