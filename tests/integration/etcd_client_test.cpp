// The etcd client (node/etcd.h) against a real etcd 3.4 (Debian's etcd-server), started by each test in a
// throwaway namespace of its own (its client URL on a veth to a second namespace, where the client runs; its peer
// URL on that namespace's loopback) with its data in the test's temporary directory, and killed by pid at the end.
// Covers reads and writes, a compare-and-put race, leases (expiry included), watch (order, resume across an etcd
// restart with no event missed or repeated, compaction), failover to a second endpoint, TLS with client
// certificates, and one client used by two threads at once.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <latch>
#include <mutex>
#include <sstream>
#include <thread>

#include "node/etcd.h"
#include "support/netns_fixture.h"
#include "support/run.h"

namespace ctnet::test {
namespace {

using namespace std::chrono_literals;
using etcd::Client;
using etcd::Event;
using etcd::Options;

constexpr const char* kServer = "10.77.0.1";  // etcd's address in its namespace (the namespaces are the test's own)
constexpr const char* kClient = "10.77.0.2";

class EtcdClient : public NetnsFixture {
 protected:
  EtcdClient() : NetnsFixture("etc") {}

  void SetUp() override {
    server_ns_ = make_ns("s");
    client_ns_ = make_ns("c");
    const std::string a = prefix() + "a", b = prefix() + "b";
    for (const auto& cmd : std::vector<std::vector<std::string>>{
             {"ip", "-n", server_ns_, "link", "set", "lo", "up"},
             {"ip", "-n", client_ns_, "link", "set", "lo", "up"},
             {"ip", "-n", server_ns_, "link", "add", a, "type", "veth", "peer", "name", b, "netns", client_ns_},
             {"ip", "-n", server_ns_, "addr", "add", std::string(kServer) + "/24", "dev", a},
             {"ip", "-n", client_ns_, "addr", "add", std::string(kClient) + "/24", "dev", b},
             {"ip", "-n", server_ns_, "link", "set", a, "up"},
             {"ip", "-n", client_ns_, "link", "set", b, "up"}}) {
      auto r = run(cmd);
      ASSERT_EQ(r.exit_code, 0) << cmd[4] << ": " << r.err;
    }
    data_dir_ = state_dir() + "/etcd-data";
  }

  ~EtcdClient() override {
    stop_etcd();  // before the fixture removes the namespaces
    if (HasFailure() && !log_.empty()) {
      std::ifstream f(log_);
      std::stringstream s;
      s << f.rdbuf();
      std::string text = s.str();
      std::cerr << "etcd's log (last 3000 bytes):\n" << text.substr(text.size() > 3000 ? text.size() - 3000 : 0);
    }
  }

  std::string url(const std::string& scheme = "http", int port = 2379) const {
    return scheme + "://" + kServer + ":" + std::to_string(port);
  }

  // etcd in the server namespace, on the data dir of the test; `extra`: TLS flags; `port`: its client port.
  // Waits until it answers.
  void start_etcd(const std::string& scheme = "http", std::vector<std::string> extra = {}, int port = 2379) {
    std::vector<std::string> args = {"/usr/bin/etcd",
                                     "--name", "default",
                                     "--data-dir", data_dir_,
                                     "--listen-client-urls", url(scheme, port),
                                     "--advertise-client-urls", url(scheme, port),
                                     "--listen-peer-urls", "http://127.0.0.1:2380",
                                     "--initial-advertise-peer-urls", "http://127.0.0.1:2380",
                                     "--initial-cluster", "default=http://127.0.0.1:2380",
                                     "--logger", "zap", "--log-outputs", "stderr", "--log-level", "warn"};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    log_ = state_dir() + "/etcd.log";
    const int log_fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    ASSERT_GE(log_fd, 0);
    NetNs ns = NetNs::open_named(server_ns_);
    const pid_t parent = getpid();
    pid_ = fork();
    if (pid_ == 0) {  // only async-signal-safe calls until exec
      prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlives the test
      if (getppid() != parent || setns(ns.fd(), CLONE_NEWNET) != 0) _exit(126);
      dup2(log_fd, 1);
      dup2(log_fd, 2);
      execv(argv[0], argv.data());
      _exit(127);
    }
    ::close(log_fd);
    ASSERT_GT(pid_, 0);
    NsGuard in(client_ns());  // etcd is reached from the client's side only
    Options o = options(scheme);
    o.endpoints = {url(scheme, port)};
    o.timeout = 300ms;
    Client probe(o);
    for (auto t0 = std::chrono::steady_clock::now();; std::this_thread::sleep_for(50ms)) {
      try {
        probe.get("ready?");
        return;
      } catch (const etcd::Unavailable& e) {
        if (std::chrono::steady_clock::now() - t0 > 10s) FAIL() << "etcd did not start: " << e.what();
      }
    }
  }
  void stop_etcd() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);  // the process this test started, by its pid
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  Options options(const std::string& scheme = "http") const {
    Options o = tls_;
    o.endpoints = {url(scheme)};
    o.timeout = 2000ms;
    return o;
  }

  // Runs the test's client side in the client namespace (threads it starts inherit it).
  NetNs client_ns() const { return NetNs::open_named(client_ns_); }

  RunResult etcdctl(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"ip", "netns", "exec", client_ns_, "etcdctl", "--endpoints=" + url()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, {{"ETCDCTL_API", "3"}});
  }

  Options tls_;  // its ca_file, cert_file and key_file (the TLS test)
  std::string server_ns_, client_ns_, data_dir_, log_;
  pid_t pid_ = -1;
};

// What a watch delivered, as "put KEY=VALUE @REV" / "del KEY @REV", for exact comparison.
struct Seen {
  std::mutex mu;
  std::vector<std::string> lines;
  std::vector<int64_t> batch_revisions;
  void add(const std::vector<Event>& evs, int64_t rev) {
    std::lock_guard l(mu);
    for (const auto& e : evs)
      lines.push_back((e.type == Event::Type::put ? "put " + e.kv.key + "=" + e.kv.value : "del " + e.kv.key) + " @" +
                      std::to_string(e.kv.mod_revision));
    batch_revisions.push_back(rev);
  }
  size_t size() {
    std::lock_guard l(mu);
    return lines.size();
  }
  bool wait_for(size_t n, std::chrono::milliseconds limit = 10s) {
    for (auto t0 = std::chrono::steady_clock::now(); std::chrono::steady_clock::now() - t0 < limit;
         std::this_thread::sleep_for(20ms))
      if (size() >= n) return true;
    return false;
  }
};

// A watch in a thread of its own, collecting into `seen`; stopped and joined at the latest when it goes out of
// scope (an ASSERT that returns early must not leave a joinable thread behind).
struct WatchThread {
  Seen seen;
  std::atomic<bool> stop{false};
  std::exception_ptr failure;
  std::thread t;
  WatchThread(Client& c, const std::string& prefix, int64_t start)
      : t([this, &c, prefix, start] {
          try {
            c.watch(prefix, start, [this](const std::vector<Event>& evs, int64_t rev) { return seen.add(evs, rev), true; },
                    stop);
          } catch (...) {
            failure = std::current_exception();
          }
        }) {}
  void finish() {
    stop = true;
    if (t.joinable()) t.join();
  }
  ~WatchThread() { finish(); }
};

TEST_F(EtcdClient, GetPutDeleteAndPrefixes) {
  ASSERT_NO_FATAL_FAILURE(start_etcd());
  NsGuard in(client_ns());
  Client c(options());
  const int64_t r1 = c.put("/t/a", "1");
  const int64_t r2 = c.put("/t/b", std::string("bin\0\xff", 5));
  EXPECT_GT(r2, r1);
  c.put("/t0", "outside the prefix");  // '0' follows '/'
  c.put("/u/a", "elsewhere");

  auto a = c.get("/t/a");
  ASSERT_EQ(a.kvs.size(), 1u);
  EXPECT_EQ(a.kvs[0].value, "1");
  EXPECT_EQ(a.kvs[0].mod_revision, r1);
  EXPECT_EQ(a.kvs[0].create_revision, r1);
  EXPECT_EQ(a.kvs[0].version, 1);
  EXPECT_GE(a.revision, r2);
  EXPECT_TRUE(c.get("/t/none").kvs.empty());

  auto p = c.get_prefix("/t/");
  ASSERT_EQ(p.kvs.size(), 2u);
  EXPECT_EQ(p.kvs[0].key, "/t/a");
  EXPECT_EQ(p.kvs[1].value, std::string("bin\0\xff", 5));
  EXPECT_EQ(c.get_prefix("").kvs.size(), 4u);  // every key

  // etcdctl sees what the client wrote.
  auto out = etcdctl({"get", "/t/a", "--print-value-only"});
  EXPECT_EQ(out.out, "1\n") << out.err;

  c.put("/t/a", "2");
  EXPECT_EQ(c.get("/t/a").kvs.at(0).version, 2);
  EXPECT_EQ(c.del("/t/none"), 0);
  EXPECT_EQ(c.del("/t/a"), 1);
  EXPECT_EQ(c.del("/t/", true), 1);
  EXPECT_TRUE(c.get_prefix("/t/").kvs.empty());
  EXPECT_EQ(c.get_prefix("/u/").kvs.size(), 1u);
  EXPECT_EQ(c.endpoint(), url());

  // etcd's refusals come back as Refused with its code, and are not retried elsewhere.
  try {
    c.put("/t/x", "v", 12345);  // no such lease
    FAIL();
  } catch (const etcd::Refused& e) {
    EXPECT_EQ(e.code(), 5);
    EXPECT_NE(std::string(e.what()).find("lease not found"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("/t/x"), std::string::npos) << e.what();
  }
  EXPECT_THROW(c.put("", "v"), etcd::Refused);  // "key is not provided", code 3
}

TEST_F(EtcdClient, CompareAndPutRaceHasOneWinner) {
  ASSERT_NO_FATAL_FAILURE(start_etcd());
  NsGuard in(client_ns());
  Client c(options());
  for (int round = 0; round < 5; ++round) {
    const std::string key = "/race/" + std::to_string(round);
    etcd::TxnResult res[2];
    std::latch go(2);
    auto contender = [&](int me) {
      go.arrive_and_wait();
      try {
        res[me] = c.txn({{.key = key, .target = etcd::Compare::Target::create_revision, .number = 0}},
                        {{.type = etcd::Request::Type::put, .key = key, .value = "owner" + std::to_string(me)}},
                        {{.type = etcd::Request::Type::get, .key = key}});
      } catch (const std::exception& e) {
        ADD_FAILURE() << e.what();
      }
    };
    {
      std::jthread t0(contender, 0), t1(contender, 1);
    }
    ASSERT_NE(res[0].succeeded, res[1].succeeded) << "round " << round;
    const int winner = res[0].succeeded ? 0 : 1;
    const auto& loser = res[1 - winner];
    EXPECT_TRUE(res[winner].gets.empty());
    ASSERT_EQ(loser.gets.size(), 1u);
    ASSERT_EQ(loser.gets[0].kvs.size(), 1u);
    EXPECT_EQ(loser.gets[0].kvs[0].value, "owner" + std::to_string(winner));
    EXPECT_EQ(loser.gets[0].kvs[0].mod_revision, res[winner].revision);
    EXPECT_EQ(c.get(key).kvs.at(0).value, "owner" + std::to_string(winner));
  }
  // Value and version compares, a delete by prefix in the success branch.
  c.put("/cas/x", "a");
  c.put("/cas/y", "b");
  auto ok = c.txn({{.key = "/cas/x", .target = etcd::Compare::Target::value, .value = "a"},
                   {.key = "/cas/x", .target = etcd::Compare::Target::version, .op = etcd::Compare::Op::greater, .number = 0}},
                  {{.type = etcd::Request::Type::del, .key = "/cas/", .prefix = true}});
  EXPECT_TRUE(ok.succeeded);
  EXPECT_TRUE(c.get_prefix("/cas/").kvs.empty());
}

TEST_F(EtcdClient, LeasesKeepAliveRevokeAndExpire) {
  ASSERT_NO_FATAL_FAILURE(start_etcd());
  NsGuard in(client_ns());
  Client c(options());
  const int64_t kept = c.grant(2), revoked = c.grant(30), expiring = c.grant(2);
  ASSERT_GT(kept, 0);
  c.put("/l/kept", "k", kept);
  c.put("/l/revoked", "r", revoked);
  c.put("/l/expiring", "e", expiring);
  EXPECT_EQ(c.get("/l/kept").kvs.at(0).lease, kept);
  const int64_t ttl = c.time_to_live(revoked);
  EXPECT_GT(ttl, 25);
  EXPECT_LE(ttl, 30);

  c.revoke(revoked);
  EXPECT_TRUE(c.get("/l/revoked").kvs.empty());
  EXPECT_EQ(c.time_to_live(revoked), -1);
  EXPECT_NO_THROW(c.revoke(revoked));  // already gone is fine

  // Refresh `kept` while `expiring` runs out: its key goes, the other stays.
  for (auto t0 = std::chrono::steady_clock::now(); std::chrono::steady_clock::now() - t0 < 3500ms;) {
    EXPECT_EQ(c.keep_alive(kept), 2);
    std::this_thread::sleep_for(500ms);
  }
  EXPECT_TRUE(c.get("/l/expiring").kvs.empty());
  EXPECT_EQ(c.get("/l/kept").kvs.size(), 1u);
  EXPECT_EQ(c.time_to_live(expiring), -1);
  try {
    c.keep_alive(expiring);
    FAIL() << "a keep-alive of an expired lease succeeded";
  } catch (const etcd::Refused& e) {
    EXPECT_EQ(e.code(), 5);
    EXPECT_NE(std::string(e.what()).find("lease not found"), std::string::npos) << e.what();
  }
  try {
    c.keep_alive(424242);
    FAIL();
  } catch (const etcd::Refused& e) {
    EXPECT_EQ(e.code(), 5);
  }
}

TEST_F(EtcdClient, WatchDeliversEventsInOrderAndStops) {
  ASSERT_NO_FATAL_FAILURE(start_etcd());
  NsGuard in(client_ns());
  Client c(options());
  const int64_t start = c.put("/w/a", "1");
  c.put("/w/b", "2");
  c.put("/x/ignored", "3");
  WatchThread w(c, "/w/", start);
  Seen& seen = w.seen;
  ASSERT_TRUE(seen.wait_for(2));
  c.del("/w/a");
  c.txn({}, {{.type = etcd::Request::Type::put, .key = "/w/c", .value = "4"},
             {.type = etcd::Request::Type::put, .key = "/w/d", .value = "5"}});  // one revision, two events
  ASSERT_TRUE(seen.wait_for(5));
  const auto t0 = std::chrono::steady_clock::now();
  w.finish();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 500ms) << "stop is looked at every 100 ms";
  ASSERT_FALSE(w.failure);
  const std::string s = std::to_string(start);
  auto rev = [&](int k) { return std::to_string(start + k); };
  EXPECT_EQ(seen.lines, (std::vector<std::string>{"put /w/a=1 @" + s, "put /w/b=2 @" + rev(1), "del /w/a @" + rev(3),
                                                  "put /w/c=4 @" + rev(4), "put /w/d=5 @" + rev(4)}));
  EXPECT_EQ(seen.batch_revisions.back(), start + 4);

  // From now (0): only later events; on_events returning false ends the watch.
  std::jthread later([&] {
    std::this_thread::sleep_for(300ms);
    EXPECT_NO_THROW(c.put("/w/e", "6"));
  });
  std::vector<std::string> got;
  std::atomic<bool> never{false};
  c.watch("/w/", 0, [&](const std::vector<Event>& evs, int64_t) { return got.push_back(evs.at(0).kv.key), false; }, never);
  later.join();
  EXPECT_EQ(got, std::vector<std::string>{"/w/e"});
}

TEST_F(EtcdClient, WatchResumesAcrossAnEtcdRestartWithoutLossOrRepeat) {
  ASSERT_NO_FATAL_FAILURE(start_etcd());
  NsGuard in(client_ns());
  Client c(options());
  const int64_t start = c.put("/r/1", "a");
  c.put("/r/2", "b");
  WatchThread w(c, "/r/", start);
  Seen& seen = w.seen;
  ASSERT_TRUE(seen.wait_for(2));
  // etcd killed under the open stream, then back for a while on another port only: the watch keeps trying its
  // endpoint while three changes are made elsewhere.
  stop_etcd();
  ASSERT_NO_FATAL_FAILURE(start_etcd("http", {}, 2381));
  {
    Client other({.endpoints = {url("http", 2381)}});
    other.put("/r/3", "c");
    other.del("/r/1");
    other.put("/r/2", "b2");
  }
  stop_etcd();
  EXPECT_EQ(seen.size(), 2u);
  // Back on its endpoint (same data dir): the watch reopens from the last revision it saw + 1, so it gets the
  // three changes it was away for, once, then live ones.
  ASSERT_NO_FATAL_FAILURE(start_etcd());
  ASSERT_TRUE(seen.wait_for(5)) << seen.size();
  c.put("/r/4", "d");
  ASSERT_TRUE(seen.wait_for(6)) << seen.size();
  std::this_thread::sleep_for(200ms);  // nothing more may come
  w.finish();
  ASSERT_FALSE(w.failure);
  auto rev = [&](int k) { return std::to_string(start + k); };
  EXPECT_EQ(seen.lines, (std::vector<std::string>{"put /r/1=a @" + rev(0), "put /r/2=b @" + rev(1), "put /r/3=c @" + rev(2),
                                                  "del /r/1 @" + rev(3), "put /r/2=b2 @" + rev(4), "put /r/4=d @" + rev(5)}));
  // The history it missed came as one batch when it reopened.
  EXPECT_EQ(seen.batch_revisions, (std::vector<int64_t>{start + 1, start + 4, start + 5}));
}

TEST_F(EtcdClient, WatchFromACompactedRevisionThrowsCompacted) {
  ASSERT_NO_FATAL_FAILURE(start_etcd());
  NsGuard in(client_ns());
  Client c(options());
  const int64_t old = c.put("/k", "1");
  c.put("/k", "2");
  const int64_t latest = c.put("/k", "3");
  auto r = etcdctl({"compact", std::to_string(latest)});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::atomic<bool> stop{false};
  try {
    c.watch("/k", old, [](const std::vector<Event>&, int64_t) { return true; }, stop);
    FAIL() << "watch returned";
  } catch (const etcd::Compacted& e) {
    EXPECT_EQ(e.compact_revision(), latest);
  }
  // From the compact revision on it works.
  std::vector<std::string> values;
  c.watch("/k", latest, [&](const std::vector<Event>& evs, int64_t) { return values.push_back(evs.at(0).kv.value), false; }, stop);
  EXPECT_EQ(values, std::vector<std::string>{"3"});
}

TEST_F(EtcdClient, FailsOverToTheNextEndpointAndNamesEachFailure) {
  ASSERT_NO_FATAL_FAILURE(start_etcd());
  NsGuard in(client_ns());
  const std::string refused = url("http", 2390);          // the right host, nobody listening: refused at once
  const std::string silent = "http://10.77.0.9:2379";      // no such host on the link: no answer at all
  Options o{.endpoints = {refused, silent, url()}, .timeout = 500ms};
  Client c(o);
  EXPECT_EQ(c.endpoint(), refused);
  const auto t0 = std::chrono::steady_clock::now();
  c.put("/f", "1");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1500ms);
  EXPECT_EQ(c.endpoint(), url());
  // The endpoint that answered is used first from now on.
  const auto t1 = std::chrono::steady_clock::now();
  EXPECT_EQ(c.get("/f").kvs.at(0).value, "1");
  EXPECT_LT(std::chrono::steady_clock::now() - t1, 300ms);

  Client dead({.endpoints = {refused, silent}, .timeout = 500ms});
  try {
    dead.get("/f");
    FAIL();
  } catch (const etcd::Unavailable& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find(refused + ": "), std::string::npos) << m;
    EXPECT_NE(m.find(silent + ": "), std::string::npos) << m;
    EXPECT_NE(m.find("onnect"), std::string::npos) << m;  // curl's "Failed to connect ..." / "Connection timed out"
  }

  // A watch whose endpoint dies reopens on the next one that works; one that never finds one gives up.
  Options w{.endpoints = {refused, url()}, .timeout = 500ms, .watch_reconnect = 1500ms};
  Client watcher(w);
  std::atomic<bool> stop{false};
  std::vector<std::string> got;
  watcher.watch("/f", 1, [&](const std::vector<Event>& evs, int64_t) { return got.push_back(evs.at(0).kv.value), false; }, stop);
  EXPECT_EQ(got, std::vector<std::string>{"1"});
  Client nowhere({.endpoints = {refused}, .timeout = 500ms, .watch_reconnect = 1000ms});
  EXPECT_THROW(nowhere.watch("/f", 1, [](const std::vector<Event>&, int64_t) { return true; }, stop), etcd::Unavailable);
}

TEST_F(EtcdClient, TlsWithClientCertificates) {
  const std::string d = state_dir();
  auto sh = [](const std::vector<std::string>& argv) {
    auto r = run(argv);
    ASSERT_EQ(r.exit_code, 0) << argv[1] << ": " << r.err;
  };
  const std::vector<std::string> ec = {"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"};
  auto req = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = {"openssl", "req"};
    argv.insert(argv.end(), ec.begin(), ec.end());
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  };
  sh(req({"-x509", "-days", "1", "-subj", "/CN=etc test CA", "-keyout", d + "/ca.key", "-out", d + "/ca.pem"}));
  sh(req({"-x509", "-days", "1", "-subj", "/CN=etc other CA", "-keyout", d + "/other.key", "-out", d + "/other.pem"}));
  sh(req({"-subj", "/CN=etcd", "-addext", std::string("subjectAltName=IP:") + kServer, "-keyout", d + "/server.key",
          "-out", d + "/server.csr"}));
  sh(req({"-subj", "/CN=ctnet", "-keyout", d + "/client.key", "-out", d + "/client.csr"}));
  for (const char* who : {"server", "client"})
    sh({"openssl", "x509", "-req", "-days", "1", "-copy_extensions", "copy", "-in", d + "/" + who + ".csr", "-CA",
        d + "/ca.pem", "-CAkey", d + "/ca.key", "-CAcreateserial", "-out", d + "/" + who + ".pem"});
  if (HasFatalFailure()) return;

  tls_ = {.ca_file = d + "/ca.pem", .cert_file = d + "/client.pem", .key_file = d + "/client.key"};
  ASSERT_NO_FATAL_FAILURE(start_etcd("https", {"--cert-file", d + "/server.pem", "--key-file", d + "/server.key", "--trusted-ca-file",
                       d + "/ca.pem", "--client-cert-auth"}));
  NsGuard in(client_ns());
  Client c(options("https"));
  c.put("/tls", "yes");
  EXPECT_EQ(c.get("/tls").kvs.at(0).value, "yes");

  Options wrong = options("https");
  wrong.ca_file = d + "/other.pem";
  try {
    Client(wrong).get("/tls");
    FAIL();
  } catch (const etcd::Unavailable& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("SSL certificate problem"), std::string::npos) << m;
    EXPECT_NE(m.find(wrong.ca_file), std::string::npos) << m;
  }
  Options anonymous = options("https");
  anonymous.cert_file = anonymous.key_file = "";
  try {
    Client(anonymous).get("/tls");
    FAIL();
  } catch (const etcd::Unavailable& e) {  // etcd wants a client certificate: "... alert bad certificate ..."
    EXPECT_NE(std::string(e.what()).find("no client certificate"), std::string::npos) << e.what();
  }  // etcd wants a client certificate
}

TEST_F(EtcdClient, OneClientServesAWatchAndKeepAlivesAtOnce) {
  ASSERT_NO_FATAL_FAILURE(start_etcd());
  NsGuard in(client_ns());
  Client c(options());
  const int64_t lease = c.grant(5);
  const int64_t start = c.put("/m/0", "0", lease);
  WatchThread w(c, "/m/", start);
  std::atomic<int> refreshed{0}, failed{0};
  std::jthread keeper([&](std::stop_token st) {
    while (!st.stop_requested()) {
      try {
        if (c.keep_alive(lease) == 5) ++refreshed;
      } catch (const Error&) {
        ++failed;
      }
      std::this_thread::sleep_for(50ms);
    }
  });
  for (int i = 1; i < 30; ++i) c.put("/m/" + std::to_string(i), std::to_string(i), lease);
  EXPECT_TRUE(w.seen.wait_for(30));
  w.finish();
  keeper.request_stop();
  keeper.join();
  ASSERT_FALSE(w.failure);
  EXPECT_EQ(w.seen.size(), 30u);
  EXPECT_GT(refreshed.load(), 0);
  EXPECT_EQ(failed.load(), 0);
}

}  // namespace
}  // namespace ctnet::test
