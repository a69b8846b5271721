# Device list of qemu-vmsix's qemu-system-aarch64 builds.
#
# Used with --without-default-devices by both the native TCG build (the
# qtests and L0 of the nested harness) and the cross KVM-only build (L1's
# QEMU).  Lines marked "fork-only" name devices that the unpatched base
# does not have; the stock builds leave them out.

CONFIG_ARM_VIRT=y

# Passthrough and the topologies it is tested behind
CONFIG_VFIO_PCI=y
CONFIG_PCIE_PORT=y
CONFIG_PCI_BRIDGE=y
CONFIG_PCIE_PCI_BRIDGE=y
CONFIG_VIRTIO_IOMMU=y

# Devices with MSI or MSI-X to pass through or to test with
CONFIG_E1000E_PCI_EXPRESS=y
CONFIG_NVME_PCI=y
CONFIG_VIRTIO_PCI=y
CONFIG_VIRTIO_NET=y
CONFIG_VIRTIO_BLK=y
CONFIG_EDU=y
CONFIG_IVSHMEM_DEVICE=y  # its irqfds, refused routes: the payload's ivshmem run
CONFIG_MSIX_TESTDEV=y  # fork-only
