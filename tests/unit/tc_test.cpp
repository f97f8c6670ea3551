// Traffic control requests (link/tc.h) against the bytes the kernel expects (linux/pkt_sched.h, pkt_cls.h,
// tc_act/tc_mirred.h; little-endian host), their parsers on the same layout, the tbf arithmetic tc and the CNI
// reference use, the u32 keys of a subnet, and the SHA-512 the reference names its IFB with.
#include <gtest/gtest.h>
#include <linux/if_ether.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>

#include <cstring>

#include "link/tc.h"
#include "util/sha512.h"

using namespace ctnet;
namespace tc = ctnet::link::tc;
using Bytes = std::vector<uint8_t>;

namespace {
Bytes bytes_of(const nl::Message& m) { return Bytes(m.bytes().begin(), m.bytes().end()); }
nl::OwnedMessage owned(const nl::Message& m) { return {std::vector<char>(m.bytes().begin(), m.bytes().end())}; }
}  // namespace

TEST(Tc, RedirectFilterIsTheBytesTcSends) {
  // tc filter add dev X parent ffff: protocol all prio 1 u32 match u32 0 0 action mirred egress redirect dev Y
  nl::Message m = tc::new_filter(7, {.parent = tc::kIngressHandle, .priority = 1, .protocol = ETH_P_ALL, .redirect_to = 9});
  Bytes expected = {
      140, 0, 0, 0,  44, 0,  0x01, 0x06,  0, 0, 0, 0,  0, 0, 0, 0,  // RTM_NEWTFILTER, REQUEST|CREATE|EXCL
      0, 0, 0, 0,  7, 0, 0, 0,  0, 0, 0, 0,  0, 0, 0xff, 0xff,      // tcmsg: ifindex 7, handle 0, parent ffff:
      0, 3, 1, 0,                                                   // info: prio 1 << 16 | htons(ETH_P_ALL)
      8, 0, 1, 0,  'u', '3', '2', 0,                                // TCA_KIND "u32"
      96, 0, 2, 0x80,                                               // TCA_OPTIONS (nested)
      36, 0, 5, 0,                                                  //   TCA_U32_SEL
      1, 0, 1, 0,  0, 0, 0, 0,  0, 0, 0, 0,  0, 0, 0, 0,            //     flags TERMINAL, nkeys 1
      0, 0, 0, 0,  0, 0, 0, 0,  0, 0, 0, 0,  0, 0, 0, 0,            //     key: mask 0 val 0 off 0 (matches all)
      56, 0, 7, 0x80,                                               //   TCA_U32_ACT
      52, 0, 1, 0x80,                                               //     action 1
      11, 0, 1, 0,  'm', 'i', 'r', 'r', 'e', 'd', 0, 0,             //       TCA_ACT_KIND "mirred"
      36, 0, 2, 0x80,                                               //       TCA_ACT_OPTIONS
      32, 0, 2, 0,                                                  //         TCA_MIRRED_PARMS
      0, 0, 0, 0,  0, 0, 0, 0,  4, 0, 0, 0,  0, 0, 0, 0,  0, 0, 0, 0,  //       index, capab, TC_ACT_STOLEN, refcnt, bindcnt
      1, 0, 0, 0,  9, 0, 0, 0,                                      //           TCA_EGRESS_REDIR to ifindex 9
  };
  EXPECT_EQ(bytes_of(m), expected);
  auto f = tc::parse_filter(owned(m));
  ASSERT_TRUE(f);
  EXPECT_EQ(f->priority, 1);
  EXPECT_EQ(f->protocol, ETH_P_ALL);
  EXPECT_TRUE(f->keys.empty()) << "the 0/0 key is a match of everything";
  EXPECT_EQ(f->redirect_to, 9);
}

TEST(Tc, TbfAsTcComputesIt) {
  // tc qdisc add ... tbf rate 8mbit burst 10000 latency 25ms: 10 ms of tokens (64 ns ticks), 25 ms of queue + burst.
  EXPECT_EQ(tc::ticks_per_usec(), 15.625);
  EXPECT_EQ(tc::tbf(1'000'000, 10'000, 25'000), (tc::Tbf{.rate = 1'000'000, .buffer = 156'250, .limit = 35'000}));
  // kubelet's burst (2^31 - 1 bits) at 1 Mbit/s would take 2147 s: capped at the kernel's 2^32 ns.
  EXPECT_EQ(tc::tbf(125'000, 268'435'455, 25'000), (tc::Tbf{.rate = 125'000, .buffer = 67'108'859, .limit = 268'438'580}));
  EXPECT_EQ(tc::tbf(1'000'000'000, 4'294'967'000, 25'000).limit, UINT32_MAX) << "saturates";
}

TEST(Tc, TbfQdiscRequestAndItsParse) {
  const tc::Qdisc q{.handle = tc::handle(1, 0), .parent = tc::kRoot, .kind = "tbf", .tbf = tc::tbf(1'000'000, 10'000, 25'000)};
  nl::Message m = tc::new_qdisc(3, q);
  EXPECT_EQ(m.hdr()->nlmsg_type, RTM_NEWQDISC);
  EXPECT_EQ(m.hdr()->nlmsg_flags, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL);
  const auto* t = m.header<tcmsg>();
  EXPECT_EQ(t->tcm_ifindex, 3);
  EXPECT_EQ(t->tcm_handle, 0x10000u);
  EXPECT_EQ(t->tcm_parent, TC_H_ROOT);
  auto o = owned(m);
  auto a = nl::Attrs::of_message(o.hdr(), sizeof(tcmsg));
  auto opts = nl::Attrs::of_nest(a.get(TCA_OPTIONS));
  ASSERT_EQ(opts.bytes(TCA_TBF_PARMS).size(), sizeof(tc_tbf_qopt));
  tc_tbf_qopt p;
  std::memcpy(&p, opts.bytes(TCA_TBF_PARMS).data(), sizeof p);
  EXPECT_EQ(p.rate.rate, 1'000'000u);
  EXPECT_EQ(p.rate.linklayer, TC_LINKLAYER_ETHERNET) << "no rate table needed";
  EXPECT_EQ(p.buffer, 156'250u);
  EXPECT_EQ(p.limit, 35'000u);
  EXPECT_FALSE(opts.has(TCA_TBF_RATE64));
  EXPECT_FALSE(opts.has(TCA_TBF_RTAB));
  int index = 0;
  EXPECT_EQ(tc::parse_qdisc(o, &index), q);
  EXPECT_EQ(index, 3);

  // Above 2^32 - 1 bytes/s the 32-bit field saturates and TCA_TBF_RATE64 carries the rate.
  const tc::Qdisc fast{.handle = tc::handle(1, 0), .kind = "tbf", .tbf = tc::tbf(5'000'000'000, 1'000'000, 25'000)};
  auto fo = owned(tc::new_qdisc(3, fast));
  auto fa = nl::Attrs::of_nest(nl::Attrs::of_message(fo.hdr(), sizeof(tcmsg)).get(TCA_OPTIONS));
  std::memcpy(&p, fa.bytes(TCA_TBF_PARMS).data(), sizeof p);
  EXPECT_EQ(p.rate.rate, UINT32_MAX);
  EXPECT_TRUE(fa.has(TCA_TBF_RATE64));
  EXPECT_EQ(tc::parse_qdisc(fo), fast);
}

TEST(Tc, HtbQdiscAndClassesRoundTrip) {
  const tc::Qdisc q{.handle = tc::handle(1, 0), .kind = "htb", .htb_default = 0x30};
  nl::Message m = tc::new_qdisc(4, q);
  auto o = owned(m);
  auto opts = nl::Attrs::of_nest(nl::Attrs::of_message(o.hdr(), sizeof(tcmsg)).get(TCA_OPTIONS));
  tc_htb_glob g;
  ASSERT_EQ(opts.bytes(TCA_HTB_INIT).size(), sizeof g);
  std::memcpy(&g, opts.bytes(TCA_HTB_INIT).data(), sizeof g);
  EXPECT_EQ(g.version, 3u);
  EXPECT_EQ(g.rate2quantum, 10u);
  EXPECT_EQ(g.defcls, 0x30u);
  EXPECT_EQ(tc::parse_qdisc(o), q);

  for (const tc::HtbClass& c : {tc::HtbClass{.id = tc::handle(1, 0x30), .parent = tc::handle(1, 0), .rate = 1'000'000,
                                             .ceil = 2'000'000, .buffer = 156'250, .cbuffer = 156'250, .quantum = 100'000},
                                tc::HtbClass{.id = tc::handle(1, 1), .parent = tc::handle(1, 0), .rate = 100'000'000'000,
                                             .ceil = 100'000'000'000, .buffer = 15'625, .cbuffer = 15'625, .quantum = 200'000}}) {
    nl::Message cm = tc::new_class(4, c);
    EXPECT_EQ(cm.hdr()->nlmsg_type, RTM_NEWTCLASS);
    auto co = owned(cm);
    EXPECT_EQ(tc::parse_class(co), c);
    auto ca = nl::Attrs::of_nest(nl::Attrs::of_message(co.hdr(), sizeof(tcmsg)).get(TCA_OPTIONS));
    EXPECT_EQ(ca.has(TCA_HTB_RATE64), c.rate > UINT32_MAX);
    EXPECT_EQ(ca.has(TCA_HTB_CEIL64), c.ceil > UINT32_MAX);
  }
}

TEST(Tc, SubnetKeysAndTheirFilter) {
  using K = std::vector<tc::U32Key>;
  EXPECT_EQ(tc::address_keys(Prefix::parse("10.97.0.7/24", "s"), true), (K{{0x0a610000, 0xffffff00, 12}})) << "source, host bits off";
  EXPECT_EQ(tc::address_keys(Prefix::parse("10.97.0.0/24", "s"), false), (K{{0x0a610000, 0xffffff00, 16}}));
  EXPECT_EQ(tc::address_keys(Prefix::parse("0.0.0.0/0", "s"), false), K{}) << "everything: no key";
  EXPECT_EQ(tc::address_keys(Prefix::parse("fd00:1::/64", "s"), false), (K{{0xfd000001, 0xffffffff, 24}, {0, 0xffffffff, 28}}));
  EXPECT_EQ(tc::address_keys(Prefix::parse("fd00:1:8000::/33", "s"), true), (K{{0xfd000001, 0xffffffff, 8}, {0x80000000, 0x80000000, 12}}));
  const tc::U32Filter f{.parent = tc::handle(1, 0), .priority = 15, .protocol = ETH_P_IPV6,
                        .keys = tc::address_keys(Prefix::parse("fd00:1::/64", "s"), false), .classid = tc::handle(1, 1)};
  auto back = tc::parse_filter(owned(tc::new_filter(5, f)));
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, f);
  EXPECT_EQ(tc::handle_str(tc::handle(1, 0x30)), "1:30");
  EXPECT_EQ(tc::handle_str(tc::kIngressHandle), "ffff:");
}

TEST(Sha512, KnownDigestsAndTheReferencesIfbName) {
  EXPECT_EQ(sha512_hex(""),
            "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e");
  EXPECT_EQ(sha512_hex("abc"),
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f");
  // FIPS 180-4's two-block message (112 bytes: the padding needs a second block).
  EXPECT_EQ(sha512_hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"),
            "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909");
  EXPECT_EQ(sha512_hex(std::string(1000, 'a')).substr(0, 16), "67ba5535a46e3f86");
  // Lengths around the block and padding edges (digests from Python's hashlib).
  for (auto [n, want] : std::vector<std::pair<size_t, std::string>>{{111, "9a2a120825c23198"}, {112, "a3722b515ef40c91"},
                                                                    {127, "1d5a8893e7b7ed83"}, {128, "e2e22f8422b54b06"},
                                                                    {129, "19015483ea99fa74"}, {239, "805c40517b44cef4"},
                                                                    {240, "3e05caa7e0fddab6"}})
    EXPECT_EQ(sha512_hex(std::string(n, 'x')).substr(0, 16), want) << n;
  // What /usr/lib/cni/bandwidth named the IFB of network "bwtnet", container "c1".
  EXPECT_EQ("bwp" + sha512_hex("bwtnetc1").substr(0, 12), "bwp76094b7a4593");
}
