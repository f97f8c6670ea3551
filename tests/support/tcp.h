// TCP in test namespaces: a server that answers every connection with a fixed text, and a client that reads
// what a connection from a namespace gets. Used to prove paths with real connections (port mappings, overlays).
#pragma once
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <thread>

#include "ns/netns.h"
#include "util/ip.h"

namespace ctnet::test {

// A TCP server in a namespace that answers every connection with `text` and closes it; stopped by its pid.
class Server {
 public:
  Server(const std::string& netns_path, int port, const std::string& text, int family = AF_INET) {
    int ready[2];
    if (pipe(ready) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      NetNs ns = NetNs::open_path(netns_path);
      if (setns(ns.fd(), CLONE_NEWNET) != 0) _exit(1);
      int s = socket(family, SOCK_STREAM, 0);
      int one = 1;
      setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      if (family == AF_INET6) setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
      sockaddr_storage a{};
      socklen_t len;
      if (family == AF_INET) {
        auto* v4 = reinterpret_cast<sockaddr_in*>(&a);
        v4->sin_family = AF_INET;
        v4->sin_port = htons(static_cast<uint16_t>(port));
        len = sizeof *v4;
      } else {
        auto* v6 = reinterpret_cast<sockaddr_in6*>(&a);
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(static_cast<uint16_t>(port));
        len = sizeof *v6;
      }
      if (bind(s, reinterpret_cast<sockaddr*>(&a), len) != 0 || listen(s, 16) != 0) _exit(1);
      (void)!write(ready[1], "x", 1);
      for (;;) {
        int c = accept(s, nullptr, nullptr);
        if (c < 0) continue;
        (void)!write(c, text.data(), text.size());
        close(c);
      }
    }
    close(ready[1]);
    char x;
    (void)!read(ready[0], &x, 1);
    close(ready[0]);
  }
  ~Server() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

 private:
  pid_t pid_ = -1;
};

// What a TCP connection from namespace `from` ("" = the fixture's host) to addr:port reads ("" when it fails
// within `timeout_ms`).
inline std::string fetch(const NetNs& from, const std::string& addr, int port, int timeout_ms = 1000) {
  std::string got;
  std::thread t([&] {
    if (setns(from.fd(), CLONE_NEWNET) != 0) return;
    const auto ip = IpAddress::parse(addr, "addr");
    int s = socket(ip.family(), SOCK_STREAM | SOCK_NONBLOCK, 0);
    sockaddr_storage a{};
    socklen_t len;
    if (ip.is_v4()) {
      auto* v4 = reinterpret_cast<sockaddr_in*>(&a);
      v4->sin_family = AF_INET;
      v4->sin_port = htons(static_cast<uint16_t>(port));
      std::memcpy(&v4->sin_addr, ip.data(), 4);
      len = sizeof *v4;
    } else {
      auto* v6 = reinterpret_cast<sockaddr_in6*>(&a);
      v6->sin6_family = AF_INET6;
      v6->sin6_port = htons(static_cast<uint16_t>(port));
      std::memcpy(&v6->sin6_addr, ip.data(), 16);
      len = sizeof *v6;
    }
    connect(s, reinterpret_cast<sockaddr*>(&a), len);
    pollfd p{s, POLLIN, 0};
    char buf[256];
    while (poll(&p, 1, timeout_ms) > 0) {
      ssize_t n = read(s, buf, sizeof buf);
      if (n <= 0) break;
      got.append(buf, static_cast<size_t>(n));
    }
    close(s);
  });
  t.join();
  return got;
}

}  // namespace ctnet::test
