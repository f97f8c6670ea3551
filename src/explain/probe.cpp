#include "explain/probe.h"

#include <netinet/in.h>  // before any linux/ header (its struct in_addr is glibc's)
#include <arpa/inet.h>

#include <fcntl.h>
#include <fmt/format.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <netinet/icmp6.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <netinet/tcp.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstring>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <thread>

#include "netlink/socket.h"
#include "nft/nft.h"
#include "util/error.h"
#include "util/fd.h"

namespace ctnet::explain {

using nlohmann::json;

namespace {

constexpr const char* kTracefs = "/sys/kernel/tracing";

bool write_file(const std::string& path, const std::string& v) {
  Fd fd(::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
  return fd && ::write(fd.get(), v.data(), v.size()) == static_cast<ssize_t>(v.size());
}

// A tracefs instance of our own (its own ring buffer and event switches, so nobody else's tracing is
// touched), removed when done. tracefs not mounted: mounted in a private mount namespace of this process, so
// the machine's mounts stay as they are.
class TraceInstance {
 public:
  bool open(uint32_t size, bool v6, std::string* why) {
    if (::access((std::string(kTracefs) + "/instances").c_str(), F_OK) != 0) {
      if (::unshare(CLONE_NEWNS) != 0 || ::mount("", "/", nullptr, MS_SLAVE | MS_REC, nullptr) != 0 ||
          ::mount("nodev", kTracefs, "tracefs", 0, nullptr) != 0) {
        *why = fmt::format("tracefs is not mounted and cannot be: {}", std::strerror(errno));
        return false;
      }
    }
    dir_ = fmt::format("{}/instances/ctnet-explain-{}", kTracefs, ::getpid());
    if (::mkdir(dir_.c_str(), 0700) != 0) {
      *why = fmt::format("cannot create tracefs instance {}: {}", dir_, std::strerror(errno));
      dir_.clear();
      return false;
    }
    // The probe's skb is known by its length on the devices it crosses (L2 header pushed on transmit).
    bool ok = write_file(dir_ + "/events/net/net_dev_queue/filter", fmt::format("len == {} || len == {}", size + 14, size)) &&
              write_file(dir_ + "/events/net/netif_receive_skb/filter", fmt::format("len == {}", size)) &&
              write_file(dir_ + "/events/skb/kfree_skb/filter", fmt::format("protocol == {}", v6 ? 0x86dd : 0x0800));
    // consume_skb too: once the probe's skb is consumed its address may be reused by another packet.
    ok = ok && write_file(dir_ + "/events/skb/consume_skb/enable", "1") && write_file(dir_ + "/events/net/net_dev_queue/enable", "1") &&
         write_file(dir_ + "/events/net/netif_receive_skb/enable", "1") && write_file(dir_ + "/events/skb/kfree_skb/enable", "1");
    if (!ok) *why = "cannot enable the skb:kfree_skb / net:* events in the tracefs instance";
    return ok;
  }
  std::string read() {
    std::ifstream f(dir_ + "/trace");
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }
  ~TraceInstance() {
    if (dir_.empty()) return;
    write_file(dir_ + "/events/enable", "0");
    ::rmdir(dir_.c_str());
  }

 private:
  std::string dir_;
};

// nftables tracing for the probe in one namespace: a table of ours whose rules set nftrace on the probe's
// packets only, and a socket on the trace group. Both go with the object.
class NftTrace {
 public:
  NftTrace(const NetNs& ns, std::string label, const std::string& table, const std::vector<std::string>& matches)
      : ns_(NetNs::open_path(fmt::format("/proc/self/fd/{}", ns.fd()))), label_(std::move(label)), table_(table),
        sock_(nl::Socket::in(ns_, NETLINK_NETFILTER)) {
    int g = NFNLGRP_NFTRACE;
    ::setsockopt(sock_.fd(), SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &g, sizeof g);
    std::string cmd;
    for (const char* fam : {"inet", "bridge"}) {
      cmd += fmt::format("add table {} {}\n", fam, table_);
      cmd += fmt::format("add chain {} {} pre {{ type filter hook prerouting priority -500; }}\n", fam, table_);
      if (std::string_view(fam) == "inet")
        cmd += fmt::format("add chain {} {} out {{ type filter hook output priority -500; }}\n", fam, table_);
      for (auto& m : matches) {
        cmd += fmt::format("add rule {} {} pre {} meta nftrace set 1\n", fam, table_, m);
        if (std::string_view(fam) == "inet") cmd += fmt::format("add rule {} {} out {} meta nftrace set 1\n", fam, table_, m);
      }
    }
    NsGuard guard(ns_);
    auto r = nft::try_run(cmd);
    ok_ = r.ok;
    err_ = r.err;
  }
  ~NftTrace() {
    NsGuard guard(ns_);
    nft::try_run(fmt::format("delete table inet {}\ndelete table bridge {}\n", table_, table_));
  }
  bool ok() const { return ok_; }
  const std::string& error() const { return err_; }
  // Drops and the chains' last verdicts, from the trace events received so far.
  void collect(std::vector<std::string>& drops) {
    char buf[65536];
    for (;;) {
      ssize_t n = ::recv(sock_.fd(), buf, sizeof buf, MSG_DONTWAIT);
      if (n <= 0) break;
      int len = static_cast<int>(n);
      for (auto* h = reinterpret_cast<const nlmsghdr*>(buf); nl::message_ok(h, len); h = nl::next_message(h, &len)) {
        if ((h->nlmsg_type & 0xff) != NFT_MSG_TRACE) continue;
        auto a = nl::Attrs::of_message(h, sizeof(nfgenmsg));
        std::string table = a.str(NFTA_TRACE_TABLE).value_or("?"), chain = a.str(NFTA_TRACE_CHAIN).value_or("?");
        if (table == table_) continue;
        uint32_t type = ntohl(a.u32(NFTA_TRACE_TYPE).value_or(0));
        std::optional<int32_t> verdict;
        if (a.has(NFTA_TRACE_VERDICT))
          if (auto c = nl::Attrs::of_nest(a.get(NFTA_TRACE_VERDICT)).u32(NFTA_VERDICT_CODE)) verdict = static_cast<int32_t>(ntohl(*c));
        if (type == NFT_TRACETYPE_POLICY) {
          uint32_t pol = ntohl(a.u32(NFTA_TRACE_POLICY).value_or(htonl(NF_ACCEPT)));
          if (pol == NF_DROP) drops.push_back(fmt::format("{}: nftables table {} chain {} policy drop", label_, table, chain));
        } else if (type == NFT_TRACETYPE_RULE && verdict && *verdict == NF_DROP) {
          uint64_t handle = 0;
          if (auto b = a.bytes(NFTA_TRACE_RULE_HANDLE); b.size() == 8) {
            std::memcpy(&handle, b.data(), 8);
            handle = be64toh(handle);
          }
          drops.push_back(fmt::format("{}: nftables table {} chain {} rule handle {}: drop", label_, table, chain, handle));
        }
      }
    }
  }

 private:
  NetNs ns_;
  std::string label_, table_;
  nl::Socket sock_;
  bool ok_ = false;
  std::string err_;
};

uint16_t csum(const void* data, size_t len, uint32_t sum = 0) {
  auto* p = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i + 1 < len; i += 2) sum += (p[i] << 8) | p[i + 1];
  if (len & 1) sum += p[len - 1] << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return htons(static_cast<uint16_t>(~sum));
}

sockaddr_storage sockaddr_of(const IpAddress& a, uint16_t port) {
  sockaddr_storage ss{};
  if (a.is_v4()) {
    auto* s = reinterpret_cast<sockaddr_in*>(&ss);
    s->sin_family = AF_INET;
    s->sin_port = htons(port);
    std::memcpy(&s->sin_addr, a.data(), 4);
  } else {
    auto* s = reinterpret_cast<sockaddr_in6*>(&ss);
    s->sin6_family = AF_INET6;
    s->sin6_port = htons(port);
    std::memcpy(&s->sin6_addr, a.data(), 16);
  }
  return ss;
}

struct Sent {
  int send_errno = 0;
  bool reply = false;       // echo reply / SYN-ACK
  bool refused = false;     // RST / ICMP port unreachable: reached the host, nobody listens
  std::string what;
};

// One probe from inside SRC: ICMP echo with our id, a TCP SYN (raw, carrying padding data so its length is
// the probe's) from our source port, or a UDP datagram from our source port. DF set.
Sent send_probe(const Request& r, const IpAddress& src, uint32_t size, std::chrono::milliseconds wait) {
  const bool v6 = r.dst.is_v6();
  const int fam = v6 ? AF_INET6 : AF_INET;
  const size_t l3 = v6 ? 40 : 20;
  Fd s;
  {
    NsGuard g(r.src);
    if (r.proto == Proto::icmp) s.reset(::socket(fam, SOCK_RAW | SOCK_CLOEXEC, v6 ? int(IPPROTO_ICMPV6) : int(IPPROTO_ICMP)));
    else if (r.proto == Proto::tcp) s.reset(::socket(fam, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_TCP));
    else s.reset(::socket(fam, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP));
  }
  if (!s) throw_errno("cannot open the probe's socket in " + r.src_label);
  int one = 1, df = IP_PMTUDISC_PROBE;
  if (v6) ::setsockopt(s.get(), IPPROTO_IPV6, IPV6_DONTFRAG, &one, sizeof one);
  else ::setsockopt(s.get(), IPPROTO_IP, IP_MTU_DISCOVER, &df, sizeof df);
  auto dst = sockaddr_of(r.dst, r.proto == Proto::icmp ? 0 : r.port);
  socklen_t dlen = v6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  std::vector<uint8_t> pkt;
  Sent out;
  if (r.proto == Proto::icmp) {
    pkt.assign(size - l3, 0x5a);
    pkt[0] = v6 ? ICMP6_ECHO_REQUEST : ICMP_ECHO;
    pkt[1] = 0;
    pkt[2] = pkt[3] = 0;
    uint16_t id = htons(r.echo_id), seq = htons(1);
    std::memcpy(&pkt[4], &id, 2);
    std::memcpy(&pkt[6], &seq, 2);
    if (!v6) {
      uint16_t c = csum(pkt.data(), pkt.size());
      std::memcpy(&pkt[2], &c, 2);
    }
  } else if (r.proto == Proto::tcp) {
    auto bind_to = sockaddr_of(src, 0);
    if (!src.is_unspecified()) ::bind(s.get(), reinterpret_cast<sockaddr*>(&bind_to), dlen);
    if (v6) {
      int off = 16;  // the kernel fills the TCP checksum of a raw IPv6 socket at this offset
      ::setsockopt(s.get(), IPPROTO_IPV6, IPV6_CHECKSUM, &off, sizeof off);
    }
    pkt.assign(size - l3, 0);
    tcphdr th{};
    th.source = htons(r.sport);
    th.dest = htons(r.port);
    th.seq = htonl(0x63746e74);  // "ctnt"
    th.doff = 5;
    th.syn = 1;
    th.window = htons(64240);
    std::memcpy(pkt.data(), &th, sizeof th);
    if (!v6) {
      uint32_t sum = 0;
      auto add16 = [&](const uint8_t* b, size_t n) {
        for (size_t i = 0; i + 1 < n; i += 2) sum += (b[i] << 8) | b[i + 1];
      };
      add16(src.data(), 4);
      add16(r.dst.data(), 4);
      sum += IPPROTO_TCP + static_cast<uint32_t>(pkt.size());
      uint16_t c = csum(pkt.data(), pkt.size(), sum);
      std::memcpy(&pkt[16], &c, 2);
    }
  } else {
    auto bind_to = sockaddr_of(src.is_unspecified() ? IpAddress::from_bytes(fam, std::array<uint8_t, 16>{}.data()) : src, r.sport);
    ::bind(s.get(), reinterpret_cast<sockaddr*>(&bind_to), dlen);
    if (::connect(s.get(), reinterpret_cast<sockaddr*>(&dst), dlen) != 0) {
      out.send_errno = errno;
      return out;
    }
    pkt.assign(size - l3 - 8, 0x5a);
  }
  ssize_t n = r.proto == Proto::udp ? ::send(s.get(), pkt.data(), pkt.size(), 0)
                                    : ::sendto(s.get(), pkt.data(), pkt.size(), 0, reinterpret_cast<sockaddr*>(&dst), dlen);
  if (n < 0) {
    out.send_errno = errno;
    return out;
  }
  auto deadline = std::chrono::steady_clock::now() + wait;
  uint8_t buf[65536];
  while (std::chrono::steady_clock::now() < deadline) {
    int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count());
    pollfd p{s.get(), POLLIN, 0};
    if (::poll(&p, 1, std::max(left, 1)) <= 0) continue;
    ssize_t got = ::recv(s.get(), buf, sizeof buf, MSG_DONTWAIT);
    if (got < 0) {
      if (errno == ECONNREFUSED) {
        out.refused = true;
        out.what = "ICMP port unreachable: the host got it, no socket listens";
        return out;
      }
      continue;
    }
    size_t off = 0;
    if (!v6 && r.proto != Proto::udp) {
      auto* ip = reinterpret_cast<const iphdr*>(buf);
      if (IpAddress::from_bytes(AF_INET, &ip->saddr) != r.dst) continue;
      off = ip->ihl * 4u;
    }
    if (static_cast<size_t>(got) < off + 8) continue;
    const uint8_t* l4 = buf + off;
    if (r.proto == Proto::icmp) {
      uint16_t id;
      std::memcpy(&id, l4 + 4, 2);
      if (l4[0] == (v6 ? ICMP6_ECHO_REPLY : ICMP_ECHOREPLY) && ntohs(id) == r.echo_id) {
        out.reply = true;
        out.what = "echo reply received";
        return out;
      }
    } else if (r.proto == Proto::tcp) {
      tcphdr th;
      std::memcpy(&th, l4, sizeof th);
      if (ntohs(th.source) != r.port || ntohs(th.dest) != r.sport) continue;
      if (th.syn && th.ack) {
        out.reply = true;
        out.what = "SYN-ACK received: a socket listens";
        return out;
      }
      if (th.rst) {
        out.refused = true;
        out.what = "RST received: the host got it, no socket listens";
        return out;
      }
    }
  }
  if (r.proto == Proto::udp) {
    out.what = "no ICMP error (UDP has no answer of its own)";
  } else {
    out.what = "no reply";
  }
  return out;
}

std::string code_of_reason(const std::string& reason, const std::string& location) {
  if (reason == "NETFILTER_DROP") return location.find("br_") != std::string::npos ? "bridge-netfilter-drop" : "netfilter-drop";
  if (reason == "IP_RPFILTER") return "rp-filter";
  if (reason == "NO_SOCKET") return "no-listener";
  if (reason == "PKT_TOO_BIG") return "mtu";
  if (reason == "IP_INNOROUTES" || reason == "IP_OUTNOROUTES") return "no-route";
  if (reason == "NEIGH_FAILED" || reason == "NEIGH_QUEUEFULL") return "neighbour-failed";
  if (reason == "BRIDGE_INGRESS_STP_STATE") return "stp-blocking";
  // ip_error (net/ipv4/route.c): EHOSTUNREACH, i.e. forwarding off, counts as IP_INADDRERRORS; a route of type
  // unreachable/blackhole/prohibit ends there unspecified. ip6_forward: forwarding off.
  if (reason == "IP_INADDRERRORS" && (location.starts_with("ip_error") || location.starts_with("ip6_forward"))) return "forwarding-off";
  if (reason == "NOT_SPECIFIED" && location.starts_with("ip_error")) return "no-route";
  // br_netfilter refragments bridged packets and drops one that must not be fragmented (DF) and is too big.
  if (reason == "NOT_SPECIFIED" && location.starts_with("br_nf_dev_queue_xmit")) return "mtu";
  return "";
}

}  // namespace

void prepare_probe(Request& r) {
  uint32_t seed = static_cast<uint32_t>(::getpid()) * 2654435761u ^
                  static_cast<uint32_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  r.echo_id = static_cast<uint16_t>(seed | 1);
  if (r.proto != Proto::icmp) r.sport = static_cast<uint16_t>(32768 + (seed >> 8) % 28000);
  // A length nothing else on the machine is likely to send: the probe is told apart from other traffic by it.
  if (!r.size) r.size = 301 + (seed >> 16) % 400;
}

ProbeResult probe(const Request& r, const Result& walk) {
  ProbeResult pr;
  // No source address (no route at the source): sent all the same, the kernel's refusal is the proof.
  const IpAddress source = walk.source.value_or(IpAddress::from_bytes(r.dst.family(), std::array<uint8_t, 16>{}.data()));
  const std::string table = fmt::format("ctnet_probe_{}", ::getpid());
  std::vector<std::string> matches;
  const bool v6 = r.dst.is_v6();
  if (r.proto == Proto::icmp) matches.push_back(fmt::format("{} id {}", v6 ? "icmpv6" : "icmp", r.echo_id));
  else {
    const char* p = r.proto == Proto::tcp ? "tcp" : "udp";
    matches.push_back(fmt::format("{} sport {} {} dport {}", p, r.sport, p, r.port));
    matches.push_back(fmt::format("{} sport {} {} dport {}", p, r.port, p, r.sport));
  }
  std::vector<std::unique_ptr<NftTrace>> traces;
  for (size_t i = 0; i < walk.spaces.size(); ++i) {
    try {
      auto t = std::make_unique<NftTrace>(*walk.spaces[i], walk.space_labels[i], table, matches);
      if (!t->ok()) pr.notes.push_back(fmt::format("nftables tracing in {} not available: {}", walk.space_labels[i], t->error()));
      traces.push_back(std::move(t));
    } catch (const Error& e) {
      pr.notes.push_back(fmt::format("nftables tracing in {} not available: {}", walk.space_labels[i], e.what()));
    }
  }
  TraceInstance ti;
  std::string why;
  bool traced = ti.open(r.size, v6, &why);
  if (!traced) pr.notes.push_back(why);

  Sent s = send_probe(r, source, r.size, std::chrono::milliseconds(r.proto == Proto::udp ? 300 : 1000));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // let the last events reach the buffers
  for (auto& t : traces) t->collect(pr.nft);
  // A probe waiting for ARP/ND is not dropped within the wait (the kernel retries for seconds): say so.
  if (!s.reply && !s.refused && !s.send_errno)
    for (const auto& h : walk.hops) {
      if (h.step != "neighbour" || !h.detail.contains("nexthop") || h.detail.value("direction", "") == "return") continue;
      for (size_t i = 0; i < walk.space_labels.size(); ++i) {
        if (walk.space_labels[i] != h.ns) continue;
        nl::Socket sock = nl::Socket::in(*walk.spaces[i]);
        IpAddress nh = IpAddress::parse(h.detail["nexthop"].get<std::string>(), "nexthop");
        nl::Message m(RTM_GETNEIGH, NLM_F_ACK);
        auto* nd = m.put_header<ndmsg>();
        nd->ndm_family = static_cast<uint8_t>(nh.family());
        nd->ndm_ifindex = h.detail["ifindex"].get<int>();
        m.put(NDA_DST, nh.data(), nh.size());
        nl::Reply rep = sock.exchange(m);
        if (!rep.error && !rep.messages.empty()) {
          uint16_t st = rep.messages.front().header<ndmsg>()->ndm_state;
          if (st & (NUD_INCOMPLETE | NUD_FAILED))
            pr.notes.push_back(fmt::format("{}: ARP/ND for {} on {} is {}: nothing answers it, the probe waits in the "
                                           "neighbour queue (dropped only after the retries, NEIGH_FAILED)",
                                           h.ns, nh.str(), h.dev, st & NUD_FAILED ? "FAILED" : "INCOMPLETE"));
        }
        break;
      }
    }

  if (traced) {
  // Lines: "<task>-<pid> [cpu] flags ts: EVENT: fields", in order. The probe's skbs: those its length was seen
  // with, until they are consumed or freed (then the address may belong to another packet).
    std::set<std::string> skbs;
    std::istringstream in(ti.read());
    for (std::string line; std::getline(in, line);) {
      if (line.starts_with("#")) continue;
      auto field = [&](const std::string& key) -> std::string {
        auto p = line.find(key + "=");
        if (p == std::string::npos) return "";
        auto e = line.find(' ', p);
        return line.substr(p + key.size() + 1, e == std::string::npos ? std::string::npos : e - p - key.size() - 1);
      };
      std::string skb = field("skbaddr");
      if (line.find("net_dev_queue:") != std::string::npos || line.find("netif_receive_skb:") != std::string::npos) {
        skbs.insert(skb);
      } else if (line.find("consume_skb:") != std::string::npos) {
        skbs.erase(skb);
      } else if (line.find("kfree_skb:") != std::string::npos && skbs.count(skb)) {
        skbs.erase(skb);
        std::string loc = field("location");
        auto rp = line.find("reason: ");
        std::string reason = rp == std::string::npos ? "?" : line.substr(rp + 8);
        // The reply, once our socket has its copy: the source's own stack has no socket for it (ping_rcv,
        // tcp_v4_rcv for a SYN-ACK to a raw SYN).
        if (s.reply && reason == "NO_SOCKET") continue;
        pr.drops.push_back(fmt::format("{} at {}", reason, loc));
        if (pr.code.empty()) pr.code = code_of_reason(reason, loc);
      }
    }
  }
  if (s.send_errno) {
    pr.reached = false;
    pr.outcome = fmt::format("the kernel refused to send it: {}", std::strerror(s.send_errno));
    pr.code = s.send_errno == EMSGSIZE ? "mtu" : s.send_errno == ENETUNREACH || s.send_errno == EHOSTUNREACH ? "no-route"
              : s.send_errno == EPERM ? "netfilter-drop" : "";
  } else if (s.reply) {
    pr.reached = true;
    pr.outcome = s.what;
    pr.code.clear();
  } else if (s.refused) {
    pr.reached = false;
    pr.outcome = s.what;
    pr.code = "no-listener";
  } else {
    pr.reached = r.proto == Proto::udp && pr.drops.empty() && pr.nft.empty();
    pr.outcome = s.what + (pr.drops.empty() && pr.nft.empty() ? (pr.reached ? ", no drop seen" : ", no drop seen on the way") : "");
  }
  if (!pr.nft.empty() && pr.code.empty()) pr.code = "netfilter-drop";
  if (walk.reaches != pr.reached) {
    pr.agrees = false;
    pr.disagreement = walk.reaches ? "the walk found no fault, but the probe did not arrive"
                                   : fmt::format("the walk says it stops ({}), but the probe arrived", walk.code);
  } else if (!walk.reaches && !pr.code.empty() && pr.code != walk.code &&
             !(walk.code == "bridge-netfilter-drop" && pr.code == "netfilter-drop")) {
    pr.notes.push_back(fmt::format("the kernel's drop reason suggests {} where the walk says {}", pr.code, walk.code));
  }
  return pr;
}

json to_json(const ProbeResult& p) {
  json j{{"reached", p.reached}, {"outcome", p.outcome}, {"drops", p.drops}, {"nftables", p.nft}, {"notes", p.notes},
         {"agrees", p.agrees}};
  j["reason"] = p.code.empty() ? json(nullptr) : json(p.code);
  if (!p.agrees) j["disagreement"] = p.disagreement;
  return j;
}

std::string render(const ProbeResult& p) {
  std::string out = fmt::format("probe: {}\n", p.outcome);
  for (auto& d : p.drops) out += "  dropped: " + d + "\n";
  for (auto& d : p.nft) out += "  " + d + "\n";
  for (auto& n : p.notes) out += "  note: " + n + "\n";
  out += p.agrees ? "probe agrees with the walk\n" : "probe DISAGREES with the walk: " + p.disagreement + "\n";
  return out;
}

}  // namespace ctnet::explain
