#include "ipam/host_local.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "util/error.h"
#include "util/fault.h"
#include "util/fd.h"
#include "util/json_get.h"

namespace ctnet::ipam {

using nlohmann::json;

namespace {

constexpr const char* kIndexDir = ".ctnet";
constexpr const char* kLineBreak = "\r\n";  // the reference's separator between ID and IFNAME

// The non-empty lines of a file's content (no streams: a plugin that builds no std::locale starts faster).
template <class F>
void for_each_line(std::string_view text, F&& f) {
  while (!text.empty()) {
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (!line.empty()) f(line);
  }
}

IpAddress parse_ip(const std::string& text, const std::string& field) {
  auto a = IpAddress::try_parse(text);
  if (!a) bad_config(field, "'" + text + "' is not an IP address");
  return *a;
}

// Range.Canonicalize of the reference: defaults and checks.
Range parse_range(const json& o, const std::string& f) {
  if (!o.is_object()) wrong_type(f, "an object");
  auto subnet_s = get_string(o, "subnet", f);
  if (!subnet_s) bad_config(f + ".subnet", "missing");
  auto p = Prefix::try_parse(*subnet_s);
  if (!p) bad_config(f + ".subnet", "'" + *subnet_s + "' is not a CIDR");
  if (p->length() > p->max_length() - 2) bad_config(f + ".subnet", "network " + *subnet_s + " is too small to allocate from");
  if (p->network() != *p)
    bad_config(f + ".subnet", "network has host bits set; the network address is " + p->network().str());
  Range r;
  r.subnet = *p;
  auto in_subnet = [&](const IpAddress& a, const std::string& key) {
    if (a.family() != p->family() || !p->contains(a))
      bad_config(f + "." + key, a.str() + " is not inside subnet " + p->str());
    // No host can hold the network address, nor the IPv4 broadcast address.
    if (a == p->first()) bad_config(f + "." + key, a.str() + " is the network address of " + p->str());
    if (a.is_v4() && a == p->last()) bad_config(f + "." + key, a.str() + " is the broadcast address of " + p->str());
  };
  r.start = p->first().plus(1);
  // The reference's lastIP: the v4 broadcast is never handed out; v6 uses the very last address.
  r.end = p->address().is_v4() ? p->last().plus(-1) : p->last();
  if (auto s = get_string(o, "rangeStart", f)) {
    r.start = parse_ip(*s, f + ".rangeStart");
    in_subnet(r.start, "rangeStart");
  }
  if (auto s = get_string(o, "rangeEnd", f)) {
    r.end = parse_ip(*s, f + ".rangeEnd");
    in_subnet(r.end, "rangeEnd");
  }
  if (r.end < r.start) bad_config(f + ".rangeEnd", r.end.str() + " is before rangeStart " + r.start.str());
  r.gateway = p->first().plus(1);
  if (auto s = get_string(o, "gateway", f)) {
    r.gateway = parse_ip(*s, f + ".gateway");
    in_subnet(r.gateway, "gateway");
  }
  return r;
}

std::vector<RangeSet> parse_range_sets(const json& arr, const std::string& f) {
  std::vector<RangeSet> sets;
  for (size_t i = 0; i < arr.size(); ++i) {
    std::string fi = f + "[" + std::to_string(i) + "]";
    if (!arr[i].is_array()) wrong_type(fi, "an array of ranges");
    if (arr[i].empty()) bad_config(fi, "a range set needs at least one range");
    RangeSet set;
    for (size_t k = 0; k < arr[i].size(); ++k) {
      Range r = parse_range(arr[i][k], fi + "[" + std::to_string(k) + "]");
      if (!set.empty() && set.front().subnet.family() != r.subnet.family())
        bad_config(fi, "mixes IPv4 and IPv6 ranges");
      set.push_back(r);
    }
    sets.push_back(std::move(set));
  }
  // No two ranges anywhere may overlap (the reference refuses it too).
  std::vector<std::pair<const Range*, std::string>> all;
  for (size_t i = 0; i < sets.size(); ++i)
    for (size_t k = 0; k < sets[i].size(); ++k) all.push_back({&sets[i][k], f + "[" + std::to_string(i) + "][" + std::to_string(k) + "]"});
  for (size_t a = 0; a < all.size(); ++a)
    for (size_t b = a + 1; b < all.size(); ++b) {
      const Range& x = *all[a].first;
      const Range& y = *all[b].first;
      if (x.start.family() == y.start.family() && !(x.end < y.start || y.end < x.start))
        bad_config(all[b].second, "overlaps " + all[a].second);
    }
  return sets;
}

// ---- the on-disk store ------------------------------------------------------------------------------------

class Store {
 public:
  // create: make the directories (ADD); otherwise a missing directory means "nothing stored".
  Store(const HostLocalConfig& c, bool create) {
    path_ = c.data_dir + "/" + c.network;
    // A pool with remove_empty disappears with its last lease: whoever opened it just before, or waited for its
    // lock meanwhile, finds the lock file unlinked (or cannot create one) and starts again.
    for (int attempt = 0; attempt < 100; ++attempt)
      if (open_locked(c, create)) return;
    throw IoError("cannot lock " + path_ + "/lock: the directory keeps being removed");
  }
  bool exists() const { return static_cast<bool>(dir_); }

  // Removes the whole directory (index, cursor files, lock) when no lease is left in it; the last release leaves
  // no trace.
  void remove_if_empty() {
    std::vector<std::string> files;
    if (!list(dir_.get(), &files)) return;
    for (const auto& n : files)
      if (IpAddress::try_parse(n)) return;
    if (Fd idx{::openat(dir_.get(), kIndexDir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)}) {
      std::vector<std::string> buckets;
      list(idx.get(), &buckets);
      for (const auto& b : buckets) ::unlinkat(idx.get(), b.c_str(), 0);
      ::unlinkat(dir_.get(), kIndexDir, AT_REMOVEDIR);
    }
    for (const auto& n : files)
      if (n != kIndexDir && n != "lock") ::unlinkat(dir_.get(), n.c_str(), 0);
    ::unlinkat(dir_.get(), "lock", 0);  // last: a waiter sees it unlinked and starts again
    ::rmdir(path_.c_str());
    ::rmdir(path_.substr(0, path_.rfind('/')).c_str());  // the data dir too, once it holds no other network
  }

  // Creates the lease file; false if the address is taken.
  bool reserve(const IpAddress& ip, const std::string& id, const std::string& ifname) {
    std::string name = ip.str();
    Fd f(::openat(dir_.get(), name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (!f) {
      if (errno == EEXIST) return false;
      throw_io("cannot create lease " + path_ + "/" + name);
    }
    std::string content = id + kLineBreak + ifname;
    if (fault::fail_write() || ::write(f.get(), content.data(), content.size()) != static_cast<ssize_t>(content.size())) {
      int e = errno;
      ::unlinkat(dir_.get(), name.c_str(), 0);
      throw_io("cannot write lease " + path_ + "/" + name, e);
    }
    return true;
  }

  // Whether the lease file of `ip` belongs to the attachment (also the reference's older "ID" only format).
  bool owned_by(const std::string& name, const std::string& id, const std::string& ifname) {
    auto content = read(name);
    if (!content) return false;
    return *content == id + kLineBreak + ifname || trim(*content) == id;
  }
  void unlink(const std::string& name) {
    if (::unlinkat(dir_.get(), name.c_str(), 0) != 0 && errno != ENOENT) throw_io("cannot remove " + path_ + "/" + name);
  }

  std::optional<std::string> read_all(const std::string& name) {
    Fd f(::openat(dir_.get(), name.c_str(), O_RDONLY | O_CLOEXEC));
    if (!f) return std::nullopt;
    std::string out;
    char buf[4096];
    for (ssize_t n; (n = ::read(f.get(), buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
    return out;
  }
  std::optional<std::string> read(const std::string& name) {
    Fd f(::openat(dir_.get(), name.c_str(), O_RDONLY | O_CLOEXEC));
    if (!f) return std::nullopt;
    char buf[4096];  // a lease's holder; ctnet's own pools write a little more than "ID\r\nIFNAME"
    ssize_t n = ::read(f.get(), buf, sizeof buf);
    if (n < 0) return std::nullopt;
    return std::string(buf, static_cast<size_t>(n));
  }
  // Overwrites in place. Not O_TRUNC: on ext4 a truncate to zero followed by a write makes close() start
  // writeback at once (the auto_da_alloc "replace via truncate" heuristic), which costs milliseconds per ADD.
  // Shrinking to the new length afterwards is not a truncate to zero and does not trigger it. `old_size`: the
  // length the file had when read under this lock (npos: unknown), so a longer content needs no fstat.
  void write_file(const std::string& name, const std::string& content, size_t old_size = std::string::npos) {
    Fd f(::openat(dir_.get(), name.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
    if (!f && errno == ENOENT && name.starts_with(kIndexDir)) {  // the first index bucket of the pool
      if (::mkdirat(dir_.get(), kIndexDir, 0755) != 0 && errno != EEXIST) throw_io("cannot create " + path_ + "/" + kIndexDir);
      f = Fd(::openat(dir_.get(), name.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
    }
    if (!f) throw_io("cannot write " + path_ + "/" + name);
    rewrite(f.get(), name, content, old_size);
  }
  void rewrite(int fd, const std::string& name, const std::string& content, size_t old_size) {
    if (fault::fail_write() || ::pwrite(fd, content.data(), content.size(), 0) != static_cast<ssize_t>(content.size()))
      throw_io("cannot write " + path_ + "/" + name);
    if (old_size != std::string::npos && old_size <= content.size()) return;
    struct stat st{};
    if (::fstat(fd, &st) == 0 && st.st_size > static_cast<off_t>(content.size()))
      if (::ftruncate(fd, static_cast<off_t>(content.size())) != 0) throw_io("cannot write " + path_ + "/" + name);
  }
  // A file read now and rewritten (rewrite) later under the same lock, the allocation cursor: one open for both.
  struct Kept {
    Fd fd;
    std::string content;
  };
  std::optional<Kept> read_kept(const std::string& name) {
    Fd f(::openat(dir_.get(), name.c_str(), O_RDWR | O_CLOEXEC));
    if (!f) return std::nullopt;
    char buf[4096];
    ssize_t n = ::read(f.get(), buf, sizeof buf);
    if (n < 0) return std::nullopt;
    return Kept{std::move(f), std::string(buf, static_cast<size_t>(n))};
  }

  // ---- the per-attachment index --------------------------------------------------------------------------
  // kIndexBuckets files .ctnet/idx-XX, each holding lines "ID+IFNAME IP[,IP]" for the attachments that hash
  // to it. Buckets, not one file per attachment: creating an inode is the dearest step of an ADD on ext4
  // (__ext4_new_inode scans for a free inode, skipping recently deleted ones), and buckets are created once.
  // A bucket holds N/256 lines, so a lookup stays one small read for any realistic N.
  static constexpr unsigned kIndexBuckets = 256;
  static std::string bucket_name(const std::string& key) {
    uint32_t h = 2166136261u;
    for (unsigned char ch : key) h = (h ^ ch) * 16777619u;
    return fmt::format("{}/idx-{:02x}", kIndexDir, h % kIndexBuckets);
  }
  static std::string key_of(const std::string& id, const std::string& ifname) { return id + "+" + ifname; }

  // A bucket's content, read once per lock: an ADD looks its key up and then rewrites the same bucket.
  const std::optional<std::string>& bucket(const std::string& name) {
    if (!bucket_ || bucket_->first != name) bucket_.emplace(name, read_all(name));
    return bucket_->second;
  }
  // The bucket's lines without the one for `key`, and that line's addresses if present.
  std::vector<std::string> bucket_lines(const std::string& key, std::optional<std::vector<std::string>>* found) {
    std::vector<std::string> keep;
    const auto& c = bucket(bucket_name(key));
    if (!c) return keep;
    for_each_line(*c, [&](std::string_view line) {
      auto sp = line.find(' ');
      if (sp != std::string::npos && line.compare(0, sp, key) == 0 && sp == key.size()) {
        if (found) {
          std::vector<std::string> ips;
          std::string_view rest(line);
          rest.remove_prefix(sp + 1);
          while (!rest.empty()) {
            auto comma = rest.find(',');
            ips.emplace_back(rest.substr(0, comma));
            rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
          }
          *found = std::move(ips);
        }
        return;
      }
      keep.emplace_back(line);
    });
    return keep;
  }
  void write_bucket(const std::string& key, const std::vector<std::string>& lines) {
    std::string content;
    for (const auto& l : lines) content += l + "\n";
    const std::string name = bucket_name(key);
    const auto& old = bucket(name);
    write_file(name, content, old ? old->size() : 0);
    bucket_.emplace(name, std::move(content));
  }
  std::optional<std::vector<std::string>> read_index(const std::string& id, const std::string& ifname) {
    std::optional<std::vector<std::string>> found;
    bucket_lines(key_of(id, ifname), &found);
    return found;
  }
  void write_index(const std::string& id, const std::string& ifname, const std::vector<std::string>& ips) {
    const std::string key = key_of(id, ifname);
    auto lines = bucket_lines(key, nullptr);
    std::string line = key + " ";
    for (size_t i = 0; i < ips.size(); ++i) line += (i ? "," : "") + ips[i];
    lines.push_back(line);
    write_bucket(key, lines);  // write_file makes the index directory on first use
  }
  void remove_index(const std::string& id, const std::string& ifname) {
    const std::string key = key_of(id, ifname);
    std::optional<std::vector<std::string>> found;
    auto lines = bucket_lines(key, &found);
    if (found) write_bucket(key, lines);
  }

  // Every lease file: (name, content). Only GC and the fallback for leases ctnet did not index read them all.
  template <class F>
  void for_each_lease(F&& f) {
    int fd = ::openat(dir_.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR* d = fd >= 0 ? ::fdopendir(fd) : nullptr;
    if (!d) throw_io("cannot list " + path_);
    std::vector<std::string> names;
    while (dirent* e = ::readdir(d))
      if (IpAddress::try_parse(e->d_name)) names.emplace_back(e->d_name);
    ::closedir(d);
    for (const auto& n : names)
      if (auto c = read(n)) f(n, *c);
  }
  // GC: keeps only the index lines `keep` accepts (key "ID+IFNAME").
  template <class F>
  void filter_index(F&& keep) {
    for (unsigned b = 0; b < kIndexBuckets; ++b) {
      const std::string name = fmt::format("{}/idx-{:02x}", kIndexDir, b);
      auto c = read_all(name);
      if (!c) continue;
      std::vector<std::string> kept;
      bool changed = false;
      for_each_line(*c, [&](std::string_view line) {
        if (keep(std::string(line.substr(0, line.find(' '))))) kept.emplace_back(line);
        else changed = true;
      });
      if (!changed) continue;
      std::string content;
      for (const auto& l : kept) content += l + "\n";
      write_file(name, content);
    }
  }

  static std::string trim(std::string s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
    size_t i = 0;
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    return s.substr(i);
  }
  static std::pair<std::string, std::string> split_owner(const std::string& content) {
    auto pos = content.find(kLineBreak);
    if (pos == std::string::npos) return {trim(content), ""};
    return {content.substr(0, pos), trim(content.substr(pos + 2))};
  }

 private:
  bool open_locked(const HostLocalConfig& c, bool create) {
    lock_.reset();
    dir_ = Fd(::open(path_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir_ && errno == ENOENT && create) {
      mkdir_p(c.data_dir);
      if (::mkdir(path_.c_str(), 0755) != 0 && errno != EEXIST) throw_io("cannot create " + path_);
      dir_ = Fd(::open(path_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    }
    if (!dir_) {
      if (!create && errno == ENOENT) return true;
      throw_io("cannot open " + path_);
    }
    lock_ = Fd(::openat(dir_.get(), "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!lock_) {
      if (errno == ENOENT) return false;  // the directory was removed after we opened it
      throw_io("cannot open " + path_ + "/lock");
    }
    while (::flock(lock_.get(), LOCK_EX) != 0)
      if (errno != EINTR) throw_io("cannot lock " + path_ + "/lock");
    struct stat st{};
    if (::fstat(lock_.get(), &st) == 0 && st.st_nlink == 0) return false;  // removed while we waited
    return true;
  }
  // The names in a directory (without . and ..); false if it cannot be read.
  static bool list(int dirfd, std::vector<std::string>* out) {
    int fd = ::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR* d = fd >= 0 ? ::fdopendir(fd) : nullptr;
    if (!d) {
      if (fd >= 0) ::close(fd);
      return false;
    }
    while (dirent* e = ::readdir(d))
      if (std::strcmp(e->d_name, ".") && std::strcmp(e->d_name, "..")) out->emplace_back(e->d_name);
    ::closedir(d);
    return true;
  }
  static void mkdir_p(const std::string& path) {
    std::string cur;
    size_t i = 0;
    while (i <= path.size()) {
      size_t next = path.find('/', i);
      if (next == std::string::npos) next = path.size();
      cur = path.substr(0, next);
      if (!cur.empty() && ::mkdir(cur.c_str(), 0755) != 0 && errno != EEXIST) throw_io("cannot create " + cur);
      i = next + 1;
    }
  }
  [[noreturn]] static void throw_io(const std::string& what, int err = errno) {
    throw IoError(what, err);
  }

  std::string path_;
  Fd dir_;
  Fd lock_;
  std::optional<std::pair<std::string, std::optional<std::string>>> bucket_;  // (name, content or absent)
};

// The addresses of a range set in allocation order, as a cursor that wraps around.
struct Cursor {
  const RangeSet& set;
  size_t r = 0;
  IpAddress a;
  void next() {
    if (a == set[r].end) {
      r = (r + 1) % set.size();
      a = set[r].start;
    } else {
      a = a.plus(1);
    }
  }
};

std::optional<size_t> range_of(const RangeSet& set, const IpAddress& ip) {
  for (size_t i = 0; i < set.size(); ++i)
    if (ip.family() == set[i].start.family() && !(ip < set[i].start) && !(set[i].end < ip)) return i;
  return std::nullopt;
}

}  // namespace

std::vector<RouteConfig> parse_routes(const json& ipam) {
  std::vector<RouteConfig> out;
  if (const auto* routes = get_array(ipam, "routes", "ipam")) {
    for (size_t i = 0; i < routes->size(); ++i) {
      std::string f = "ipam.routes[" + std::to_string(i) + "]";
      const auto& o = (*routes)[i];
      if (!o.is_object()) wrong_type(f, "an object");
      auto dst = get_string(o, "dst", f);
      if (!dst) bad_config(f + ".dst", "missing");
      auto p = Prefix::try_parse(*dst);
      if (!p) bad_config(f + ".dst", "'" + *dst + "' is not a CIDR");
      RouteConfig rc{p->network(), std::nullopt};
      if (auto gw = get_string(o, "gw", f)) rc.gw = parse_ip(*gw, f + ".gw");
      out.push_back(rc);
    }
  }
  return out;
}

HostLocalConfig parse_config(const json& ipam, const std::string& network, const json* runtime_ranges) {
  HostLocalConfig c;
  c.network = network;
  if (auto d = get_string(ipam, "dataDir", "ipam")) {
    if (d->empty() || d->front() != '/') bad_config("ipam.dataDir", "must be an absolute path");
    c.data_dir = *d;
  }
  c.resolv_conf = get_string(ipam, "resolvConf", "ipam").value_or("");
  if (runtime_ranges) {
    if (!runtime_ranges->is_array()) wrong_type("runtimeConfig.ipRanges", "an array of range sets");
    c.range_sets = parse_range_sets(*runtime_ranges, "runtimeConfig.ipRanges");
  } else if (const auto* r = get_array(ipam, "ranges", "ipam")) {
    c.range_sets = parse_range_sets(*r, "ipam.ranges");
  }
  if (member(ipam, "subnet")) {
    // The legacy single-range form: subnet, rangeStart, rangeEnd, gateway at the top of "ipam".
    json legacy = json::array({json::array({json::object()})});
    for (const char* k : {"subnet", "rangeStart", "rangeEnd", "gateway"})
      if (ipam.contains(k)) legacy[0][0][k] = ipam[k];
    auto sets = parse_range_sets(legacy, "ipam");
    c.range_sets.insert(c.range_sets.begin(), sets.begin(), sets.end());
  }
  if (c.range_sets.empty()) bad_config("ipam.ranges", "missing: give at least one range set with a subnet");
  c.routes = parse_routes(ipam);
  return c;
}

std::vector<Lease> allocate(const HostLocalConfig& c, const std::string& id, const std::string& ifname,
                            const std::vector<IpAddress>& requested) {
  // Which range set each requested address satisfies (checked before anything is written).
  std::vector<std::optional<IpAddress>> wanted(c.range_sets.size());
  for (const auto& ip : requested) {
    bool placed = false;
    for (size_t s = 0; s < c.range_sets.size() && !placed; ++s) {
      auto r = range_of(c.range_sets[s], ip);
      if (!r) continue;
      if (ip == c.range_sets[s][*r].gateway) bad_config("ips", "requested address " + ip.str() + " is the gateway");
      if (wanted[s]) bad_config("ips", "more than one requested address for range set " + std::to_string(s));
      wanted[s] = ip;
      placed = true;
    }
    if (!placed) bad_config("ips", "requested address " + ip.str() + " is not inside any configured range");
  }

  Store st(c, true);
  if (auto held = st.read_index(id, ifname)) {
    for (const auto& ip : *held)
      if (st.owned_by(ip, id, ifname))
        throw Conflict(ip + " has been allocated to " + id + " (" + ifname + "), duplicate allocation is not allowed");
  }
  std::vector<Lease> out;
  std::vector<std::string> made;
  try {
    for (size_t s = 0; s < c.range_sets.size(); ++s) {
      const RangeSet& set = c.range_sets[s];
      const std::string last_file = "last_reserved_ip." + std::to_string(s);
      std::optional<IpAddress> got;
      size_t got_range = 0;
      std::optional<Store::Kept> cursor;  // last_file, when read
      if (wanted[s]) {
        if (!st.reserve(*wanted[s], id, ifname))
          throw Conflict("requested address " + wanted[s]->str() + " is already allocated");
        got = wanted[s];
        got_range = *range_of(set, *got);
      } else {
        Cursor cur{set, 0, set[0].start};
        if (!c.lowest_free) cursor = st.read_kept(last_file);
        if (cursor) {
          if (auto ip = IpAddress::try_parse(Store::trim(cursor->content)))
            if (auto r = range_of(set, *ip)) {
              cur.r = *r;
              cur.a = *ip;
              cur.next();
            }
        }
        const size_t r0 = cur.r;
        const IpAddress a0 = cur.a;
        do {
          if (cur.a != set[cur.r].gateway && st.reserve(cur.a, id, ifname)) {
            got = cur.a;
            got_range = cur.r;
            break;
          }
          cur.next();
        } while (!(cur.r == r0 && cur.a == a0));
        if (!got)
          throw Exhausted("no IP addresses available in range set " + std::to_string(s) + " of network " + c.network);
      }
      made.push_back(got->str());
      if (cursor) st.rewrite(cursor->fd.get(), last_file, got->str(), cursor->content.size());
      else if (!c.lowest_free) st.write_file(last_file, got->str());
      out.push_back({Prefix(*got, set[got_range].subnet.length()), set[got_range].gateway});
    }
    st.write_index(id, ifname, made);
  } catch (...) {
    for (const auto& m : made) st.unlink(m);
    if (c.remove_empty) st.remove_if_empty();
    throw;
  }
  return out;
}

std::vector<IpAddress> release(const HostLocalConfig& c, const std::string& id, const std::string& ifname) {
  std::vector<IpAddress> out;
  Store st(c, false);
  if (!st.exists()) return out;
  if (auto held = st.read_index(id, ifname)) {
    for (const auto& ip : *held)
      if (st.owned_by(ip, id, ifname)) {
        st.unlink(ip);
        out.push_back(*IpAddress::try_parse(ip));
      }
    st.remove_index(id, ifname);
  } else {
    // Not indexed: leases written by the reference plugin (or none at all). Scan once, as the reference does.
    st.for_each_lease([&](const std::string& name, const std::string& content) {
      auto [cid, cif] = Store::split_owner(content);
      if (cid == id && (cif.empty() || cif == ifname)) {
        st.unlink(name);
        out.push_back(*IpAddress::try_parse(name));
      }
    });
  }
  if (c.remove_empty) st.remove_if_empty();
  return out;
}

std::vector<IpAddress> leases_of(const HostLocalConfig& c, const std::string& id, const std::string& ifname) {
  std::vector<IpAddress> out;
  Store st(c, false);
  if (!st.exists()) return out;
  if (auto held = st.read_index(id, ifname)) {
    for (const auto& ip : *held)
      if (st.owned_by(ip, id, ifname)) out.push_back(*IpAddress::try_parse(ip));
    return out;
  }
  st.for_each_lease([&](const std::string& name, const std::string& content) {
    auto [cid, cif] = Store::split_owner(content);
    if (cid == id && (cif.empty() || cif == ifname)) out.push_back(*IpAddress::try_parse(name));
  });
  return out;
}

std::vector<std::pair<IpAddress, Attachment>> leases(const HostLocalConfig& c) {
  std::vector<std::pair<IpAddress, Attachment>> out;
  Store st(c, false);
  if (!st.exists()) return out;
  st.for_each_lease([&](const std::string& name, const std::string& content) {
    out.emplace_back(*IpAddress::try_parse(name), Store::split_owner(content));
  });
  return out;
}

std::vector<Attachment> gc(const HostLocalConfig& c, const std::set<Attachment>& valid) {
  std::set<Attachment> released;
  Store st(c, false);
  if (!st.exists()) return {};
  st.for_each_lease([&](const std::string& name, const std::string& content) {
    auto owner = Store::split_owner(content);
    if (valid.count(owner)) return;
    // The reference's old format carried the ID only: keep it if any valid attachment has that ID.
    if (owner.second.empty())
      for (const auto& v : valid)
        if (v.first == owner.first) return;
    st.unlink(name);
    released.insert(owner);
  });
  st.filter_index([&](const std::string& key) {
    auto plus = key.find('+');
    if (plus == std::string::npos) return false;
    return valid.count({key.substr(0, plus), key.substr(plus + 1)}) > 0;
  });
  return {released.begin(), released.end()};
}

DnsInfo parse_resolv_conf(const std::string& path) {
  DnsInfo d;
  std::ifstream f(path);
  if (!f) throw IoError("cannot read resolvConf " + path);
  for (std::string line; std::getline(f, line);) {
    std::istringstream in(line);
    std::string key;
    in >> key;
    if (key.empty() || key[0] == '#' || key[0] == ';') continue;
    std::vector<std::string> vals;
    for (std::string v; in >> v;) vals.push_back(v);
    if (key == "nameserver" && !vals.empty()) d.nameservers.push_back(vals[0]);
    else if (key == "domain" && !vals.empty()) d.domain = vals[0];
    else if (key == "search") d.search = vals;
    else if (key == "options") d.options.insert(d.options.end(), vals.begin(), vals.end());
  }
  return d;
}

}  // namespace ctnet::ipam
