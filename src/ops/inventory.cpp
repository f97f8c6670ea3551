#include "ops/inventory.h"

#include <linux/net_namespace.h>
#include <linux/rtnetlink.h>

#include <map>

#include "ns/ns_socket.h"

namespace ctnet {


std::vector<NsView> take_inventory(std::optional<NetNs> only) {
  struct Space {
    std::string name;
    NsSocket sock;
    std::vector<link::Link> links;
    std::vector<addr::Address> addrs;
  };
  std::vector<Space> spaces;
  spaces.push_back({"", NsSocket::current(), {}, {}});
  for (const auto& name : NetNs::list_named()) {
    try {
      NsSocket s = NsSocket::named(name);
      if (s.ns.same_as(spaces.front().sock.ns)) continue;  // the host itself (ctnet --host-netns NAME)
      spaces.push_back({name, std::move(s), {}, {}});
    } catch (const std::exception&) {
      // a stale file under /run/netns (its namespace died): nothing to show
    }
  }
  std::optional<size_t> selected;
  if (only) {
    for (size_t i = 0; i < spaces.size() && !selected; ++i)
      if (spaces[i].sock.ns.same_as(*only)) selected = i;
    if (!selected) {  // not named: a process's namespace or a bind mount elsewhere
      std::string label = only->label();
      spaces.push_back({label, NsSocket::of(std::move(*only)), {}, {}});
      selected = spaces.size() - 1;
    }
  }
  for (auto& sp : spaces) {
    sp.links = link::list(sp.sock.rtnl);
    sp.addrs = addr::list(sp.sock.rtnl);
  }
  auto find_link = [&](size_t space, int index) -> const link::Link* {
    for (auto& l : spaces[space].links)
      if (l.index == index) return &l;
    return nullptr;
  };

  std::vector<NsView> out;
  for (size_t i = 0; i < spaces.size(); ++i) {
    auto& sp = spaces[i];
    if (selected && i != *selected) continue;
    // nsid -> index into spaces, as this namespace numbers the others (asked only when a link needs it).
    std::map<int32_t, size_t> ids;
    bool ids_loaded = false;
    NsView view{sp.name, {}};
    for (auto& l : sp.links) {
      LinkView lv{l, {}, {}, {}};
      for (auto& a : sp.addrs)
        if (a.index == l.index) lv.addresses.push_back(a.prefix);
      if (l.master)
        if (auto* m = find_link(i, l.master)) lv.master_name = m->name;
      if (l.kind == "veth" && l.parent) {
        std::optional<size_t> peer_space;
        if (!l.link_netnsid) {
          peer_space = i;
        } else {
          if (!ids_loaded) {
            for (size_t j = 0; j < spaces.size(); ++j)
              if (j != i)
                if (auto id = nsid_of(sp.sock.rtnl, spaces[j].sock.ns)) ids[*id] = j;
            ids_loaded = true;
          }
          if (auto it = ids.find(*l.link_netnsid); it != ids.end()) peer_space = it->second;
        }
        if (peer_space) {
          if (auto* p = find_link(*peer_space, l.parent)) {
            PeerRef ref{spaces[*peer_space].name, p->name, {}};
            if (p->master)
              if (auto* m = find_link(*peer_space, p->master)) ref.bridge = m->name;
            lv.peer = ref;
          }
        }
      }
      view.links.push_back(std::move(lv));
    }
    out.push_back(std::move(view));
  }
  return out;
}

}  // namespace ctnet
