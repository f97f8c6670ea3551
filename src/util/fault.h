// Test-only fault injection: makes the k-th kernel request or the k-th state-file write of this process fail,
// so a test can prove that every step's failure leaves the kernel and the disk as they were.
//   CTNET_FAULT_REQUEST=k  the k-th kernel request fails as a kernel refusal would (EIO, "injected fault ...")
//                          without being sent. Requests are netlink requests (all sockets), namespace
//                          creation, sysctl writes and nftables commands.
//   CTNET_FAULT_WRITE=k    the k-th state-file write (lab records and journals, host-local leases, index and
//                          last_reserved_ip, attach leases, SR-IOV records) fails with EIO.
//   CTNET_FAULT_COUNT=PATH at exit, writes "requests N\nwrites M\n" to PATH: the steps a run took.
// Only the one numbered step fails, so the rollback that follows runs normally. The environment is read once
// per process; with none of the variables set each check is one relaxed atomic increment.
#pragma once
#include <string>

namespace ctnet::fault {

// Counts one kernel request; true (and errno = EIO) when it is the one to fail.
bool fail_request();
// Counts one state-file write; true (and errno = EIO) when it is the one to fail.
bool fail_write();
// The kernel text an injected request failure carries: "injected fault (CTNET_FAULT_REQUEST=k)".
std::string request_text();

}  // namespace ctnet::fault
