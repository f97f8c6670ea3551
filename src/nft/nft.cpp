#include "nft/nft.h"

#include <dlfcn.h>
#include <fmt/format.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <mutex>

#include "util/error.h"
#include "util/fault.h"

namespace ctnet::nft {
namespace {

// The few entry points of libnftables we use (see /usr/include/nftables/libnftables.h).
struct Lib {
  void* (*ctx_new)(uint32_t);
  void (*ctx_free)(void*);
  int (*buffer_output)(void*);
  int (*buffer_error)(void*);
  const char* (*get_output)(void*);
  const char* (*get_error)(void*);
  void (*set_flags)(void*, unsigned);
  int (*run_cmd)(void*, const char*);
};
constexpr unsigned kOutputJson = 1u << 4;  // NFT_CTX_OUTPUT_JSON

const Lib& lib() {
  static Lib l;
  static std::once_flag once;
  static std::string failure;
  std::call_once(once, [] {
    void* h = dlopen("libnftables.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
      failure = dlerror();
      return;
    }
    auto sym = [&](const char* name) {
      void* p = dlsym(h, name);
      if (!p) failure = fmt::format("libnftables.so.1 lacks {}", name);
      return p;
    };
    l.ctx_new = reinterpret_cast<void* (*)(uint32_t)>(sym("nft_ctx_new"));
    l.ctx_free = reinterpret_cast<void (*)(void*)>(sym("nft_ctx_free"));
    l.buffer_output = reinterpret_cast<int (*)(void*)>(sym("nft_ctx_buffer_output"));
    l.buffer_error = reinterpret_cast<int (*)(void*)>(sym("nft_ctx_buffer_error"));
    l.get_output = reinterpret_cast<const char* (*)(void*)>(sym("nft_ctx_get_output_buffer"));
    l.get_error = reinterpret_cast<const char* (*)(void*)>(sym("nft_ctx_get_error_buffer"));
    l.set_flags = reinterpret_cast<void (*)(void*, unsigned)>(sym("nft_ctx_output_set_flags"));
    l.run_cmd = reinterpret_cast<int (*)(void*, const char*)>(sym("nft_run_cmd_from_buffer"));
  });
  if (!failure.empty()) throw Error("nftables rules need libnftables (package libnftables1): " + failure);
  return l;
}

uint64_t fnv1a(std::string_view s, uint64_t h = 1469598103934665603ull) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

bool is_fixed(const Table& t, const std::string& chain) {
  for (const auto& f : t.fixed)
    if (f == chain || (f.ends_with('-') && chain.starts_with(f))) return true;
  return false;
}

}  // namespace

RunResult try_run(const std::string& cmds, bool json) {
  const Lib& l = lib();
  if (fault::fail_request()) return {false, "", fault::request_text()};  // tests only
  void* ctx = l.ctx_new(0);
  if (!ctx) throw Error("cannot create an nftables context");
  l.buffer_output(ctx);
  l.buffer_error(ctx);
  if (json) l.set_flags(ctx, kOutputJson);
  int rc = l.run_cmd(ctx, cmds.c_str());
  // Each get_*_buffer call hands the buffer over and resets it: read each once.
  const char* out = l.get_output(ctx);
  const char* err = l.get_error(ctx);
  RunResult r{rc == 0, out ? out : "", err ? err : ""};
  l.ctx_free(ctx);
  return r;
}

std::string run(const std::string& commands, bool json_output) {
  auto r = try_run(commands, json_output);
  if (!r.ok) throw Error("nft: " + r.err);
  return r.out;
}

nlohmann::json list_json(const std::string& what) {
  auto r = try_run("list " + what, true);
  if (!r.ok) return nlohmann::json::array();
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return nlohmann::json::array();
  return j.value("nftables", nlohmann::json::array());
}

std::string network_prefix(const std::string& network) {
  return fmt::format("c-{:08x}-", static_cast<uint32_t>(fnv1a(network)));
}

std::string chain_name(const MasqKey& k) {
  uint64_t h = fnv1a(k.network);
  h = fnv1a(std::string_view("\0", 1), h);
  h = fnv1a(k.container_id, h);
  h = fnv1a(std::string_view("\0", 1), h);
  h = fnv1a(k.ifname, h);
  return network_prefix(k.network) + fmt::format("{:016x}", h);
}

const char* family_name(int family) { return family == AF_INET ? "ip" : "ip6"; }

TablesLock::TablesLock() : lock_("ctnet-nft-tables") {}

void delete_table(const Table& t) {
  auto r = try_run("delete table " + t.name, false);
  if (!r.ok && r.err.find("No such file") == std::string::npos)
    throw Error(fmt::format("cannot remove the unused nftables table {}: {}", t.name, r.err));
}

bool table_exists(const Table& t) { return try_run("list table " + t.name, false).ok; }

void delete_if_unused(const Table& t, const nlohmann::json* listing) {
  nlohmann::json own;
  if (!listing) {
    own = list_json("table " + t.name);
    listing = &own;
  }
  if (listing->empty()) return;  // not there
  for (const auto& item : *listing) {
    if (item.contains("chain") && !is_fixed(t, item["chain"].value("name", ""))) return;
    for (const char* kind : {"set", "map"})
      if (item.contains(kind) && !item[kind].value("elem", nlohmann::json::array()).empty()) return;
  }
  delete_table(t);
}

void with_table(const Table& t, const std::string& create, const std::string& setup, const std::string& what) {
  auto r = try_run(create, false);
  const bool created = r.ok;
  if (!r.ok && r.err.find("File exists") == std::string::npos)
    throw Error(fmt::format("cannot create nftables table {}: {}", t.name, r.err));
  r = try_run(setup, false);
  if (r.ok) return;
  if (created) delete_if_unused(t);
  throw Error(fmt::format("{}: {}", what, r.err));
}

}  // namespace ctnet::nft
