#!/bin/sh
# Installs the Debian packages ctnet needs to build and run; with --test also those the tests and benchmarks
# start. Idempotent: apt-get runs only when something is missing. Packages and why: see README.md, "Dependencies".
set -eu
BUILD_PKGS="g++ cmake make pkg-config ccache nlohmann-json3-dev libcli11-dev libfmt-dev libyaml-cpp-dev
  libnftables-dev libgtest-dev libcurl4-openssl-dev"
RUN_PKGS="nftables graphviz libcurl4"
# For tests and benchmarks only: the reference CNI plugins and `ip` to compare with, QEMU and busybox for the
# kernel suite, hyperfine for timing whole commands, iperf3 for the bandwidth plugin's rates, dnsmasq as the DHCP
# server of the dhcp plugin's tests; for the runtime tests podman, containerd and runc (listed: podman's first
# choice, crun, cannot start containers here), jq, and gRPC for Python (the CRI client); etcd and openssl for the
# node tests; strace and valgrind for bench/cni.sh and scripts/hot-text.sh; headless chromium (and the font the page
# asks for) to render `ctnet graph -o html` in its test.
TEST_PKGS="containernetworking-plugins iproute2 qemu-system-x86 busybox-static xz-utils file bc hyperfine python3
  iperf3 dnsmasq-base podman containerd runc jq python3-grpcio python3-grpc-tools etcd-server etcd-client openssl
  strace valgrind chromium fonts-dejavu-core"
missing=""
want="$BUILD_PKGS $RUN_PKGS"
[ "${1:-}" = "--test" ] && want="$want $TEST_PKGS"
for p in $want; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
