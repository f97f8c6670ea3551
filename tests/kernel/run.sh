#!/bin/bash
# The kernel suite: what this machine's kernel cannot show (ipvlan, VRF, SR-IOV) proved on a stock Debian kernel
# booted under QEMU, one VM per suite, with build/ctnet running inside the guest.
#
#   tests/kernel/run.sh BUILD_DIR [SUITE...]      (SUITE: subif, vrf, sriov-igb, sriov-netdevsim, explain-vlan,
#                                                  legacy-forward, ip-verbs, lab-links; default: all)
#
# Prepares the VM environment first (idempotent; downloads from Debian's mirror are cached in
# ${VM_ROOT:-~/.cache/ctnet-vm}; netdevsim, which Debian's kernel lacks, is built there once from linux-source). A VM that cannot start is a failure, never a skip. Ends with "N passed, M failed"
# and exits non-zero when anything failed.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=${1:?usage: tests/kernel/run.sh BUILD_DIR [SUITE...]}
shift
SUITES=("$@")
[ ${#SUITES[@]} -gt 0 ] || SUITES=(subif vrf sriov-igb sriov-netdevsim explain-vlan legacy-forward ip-verbs lab-links)
CTNET=$(cd "$BUILD" && pwd)/ctnet
export VM_ROOT=${VM_ROOT:-$HOME/.cache/ctnet-vm}
LOGDIR=${CTNET_KERNEL_LOGS:-$(cd "$BUILD" && pwd)/kernel-tests}
mkdir -p "$LOGDIR"
T0=$(date +%s)
say() { echo "[kernel $(date +%T)] $*"; }

[ -x "$CTNET" ] || { echo "kernel suite: $CTNET is missing (build first)"; echo "0 passed, 1 failed"; exit 1; }
say "preparing the VM environment in $VM_ROOT"
if ! "$HERE/setup-vm-env.sh" --qemu10 --netdevsim "$VM_ROOT" >"$LOGDIR/setup.log" 2>&1; then
  cat "$LOGDIR/setup.log"
  echo "kernel suite: the VM environment could not be prepared (see above)"
  echo "0 passed, 1 failed"
  exit 1
fi
export VM_QEMU=$VM_ROOT/qemu10/qemu
# the kernel run-in-vm.sh boots: the newest unpacked vmlinux
KVER=$(ls -1 "$VM_ROOT"/k-amd64/boot/vmlinux-* | sort -V | tail -1); KVER=${KVER##*/vmlinux-}
MD=$VM_ROOT/k-amd64/lib/modules/$KVER/kernel

# One emulated SR-IOV NIC (Intel 82576: 7 VFs) on a PCIe root port, behind an emulated IOMMU so a VF can be bound
# to vfio-pci (Debian's kernel has no CONFIG_VFIO_NOIOMMU). Its only network is a QEMU hub: nothing leaves the VM.
IGB_QEMU="-machine q35 -device intel-iommu,intremap=off -device pcie-root-port,id=rp0,chassis=1
          -netdev hubport,id=n0,hubid=0 -device igb,bus=rp0,netdev=n0"

passed=0 failed=0
for suite in "${SUITES[@]}"; do
  script=$HERE/suites/$suite.sh
  [ -f "$script" ] || { say "no such suite: $suite"; failed=$((failed + 1)); continue; }
  args=()
  files=("$CTNET:/t/ctnet" "$HERE/lib.sh:/t/lib.sh")
  case $suite in
    sriov-*)
      args=(-A "intel_iommu=on iommu=pt" -q "$IGB_QEMU")
      for m in virt/lib/irqbypass drivers/vfio/vfio drivers/vfio/vfio_virqfd drivers/vfio/pci/vfio-pci-core \
               drivers/vfio/pci/vfio-pci; do
        files+=("$MD/$m.ko:/t/mods/$(basename "$m").ko")
      done ;;
    legacy-forward)
      # The guest has no iptables binary: a static helper does what `iptables -L` does first.
      gcc -static -O2 -Wall -o "$LOGDIR/iptables_touch" "$HERE/tools/iptables_touch.c" || failed=$((failed + 1))
      files+=("$LOGDIR/iptables_touch:/t/iptables_touch")
      for m in net/netfilter/x_tables net/ipv4/netfilter/ip_tables net/ipv4/netfilter/iptable_filter net/bridge/br_netfilter; do
        files+=("$MD/$m.ko:/t/mods/$(basename "$m").ko")
      done ;;
    lab-links)
      files+=("$MD/net/sched/sch_netem.ko:/t/mods/sch_netem.ko" "$HERE/../../examples/vlan-bridge.yaml:/t/vlan-bridge.yaml") ;;
  esac
  log=$LOGDIR/$suite.log
  say "suite $suite: booting $KVER under QEMU"
  s0=$(date +%s)
  VM_TIMEOUT=${VM_TIMEOUT:-600} "$HERE/run-in-vm.sh" "${args[@]}" "$script" "${files[@]}" >"$log" 2>&1
  rc=$?
  cat "$log"
  p=$(grep -c '^PASS: ' "$log"); f=$(grep -c '^FAIL: ' "$log")
  if [ $rc -ge 124 ] || [ $rc = 2 ] || ! grep -q '^suite: ' "$log"; then
    say "suite $suite: the VM did not run the suite to its end (rc $rc): counted as a failure"
    f=$((f + 1))
  elif [ $rc != 0 ] && [ "$f" = 0 ]; then
    f=1
  fi
  say "suite $suite: $p passed, $f failed in $(( $(date +%s) - s0 )) s"
  passed=$((passed + p)); failed=$((failed + f))
done
say "kernel suite took $(( $(date +%s) - T0 )) s; logs in $LOGDIR"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
