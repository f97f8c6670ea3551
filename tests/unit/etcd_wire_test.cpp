// The etcd client's pure parts: base64, prefix_end, the request JSON it sends and the answers it parses (the
// answers are etcd 3.4.23's own, captured from its gateway), option validation, and that the ctnet binary does not
// load libcurl when it starts (a CNI plugin must not pay for it).
#include <gtest/gtest.h>

#include "node/etcd.h"
#include "node/etcd_json.h"
#include "support/run.h"
#include "util/base64.h"

namespace ctnet::etcd {
namespace {

using nlohmann::json;

TEST(EtcdBase64, Rfc4648Vectors) {
  const std::pair<std::string, std::string> vectors[] = {{"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},
                                                         {"foo", "Zm9v"},  {"foob", "Zm9vYg=="},  {"fooba", "Zm9vYmE="},
                                                         {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, coded] : vectors) {
    EXPECT_EQ(base64_encode(plain), coded);
    EXPECT_EQ(base64_decode(coded), plain);
  }
}

TEST(EtcdBase64, EveryByteRoundTrips) {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (size_t len = 0; len <= all.size(); len += 37) EXPECT_EQ(base64_decode(base64_encode(all.substr(0, len))), all.substr(0, len));
  EXPECT_EQ(base64_encode(std::string("\xff\xfe\x00", 3)), "//4A");
}

TEST(EtcdBase64, RejectsWhatIsNotPaddedBase64NamingTheField) {
  for (const char* bad : {"Zm9", "Zm9v=", "Zg=a", "Z===", "====", "Zm9$", "Zm9v\n", "Zm=v", "Zm9v====x"}) {
    try {
      base64_decode(bad, "kvs[0].key");
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const InvalidInput& e) {
      EXPECT_EQ(e.field(), "kvs[0].key");
    }
  }
}

TEST(EtcdPrefixEnd, IncrementsTheLastByteBelow0xff) {
  EXPECT_EQ(prefix_end("a/b"), "a/c");
  EXPECT_EQ(prefix_end("/ctnet/nodes/"), "/ctnet/nodes0");
  EXPECT_EQ(prefix_end("a\xff"), "b");
  EXPECT_EQ(prefix_end("abc\xfe"), "abc\xff");
  EXPECT_EQ(prefix_end("\xff\xff"), std::string(1, '\0'));  // no key after: every key >= prefix
  EXPECT_EQ(prefix_end(""), std::string(1, '\0'));          // every key
}

TEST(EtcdJson, Requests) {
  EXPECT_EQ(wire::range_request("foo", ""), json::parse(R"({"key":"Zm9v"})"));
  EXPECT_EQ(wire::range_request("foo", prefix_end("foo")), json::parse(R"({"key":"Zm9v","range_end":"Zm9w"})"));
  EXPECT_EQ(wire::put_request("foo", "bar", 0), json::parse(R"({"key":"Zm9v","value":"YmFy"})"));
  EXPECT_EQ(wire::put_request("foo", "", 7587), json::parse(R"({"key":"Zm9v","value":"","lease":"7587"})"));
  EXPECT_EQ(wire::lease_request(2324035746686133256), json::parse(R"({"ID":"2324035746686133256"})"));
  EXPECT_EQ(wire::watch_request("", std::string(1, '\0'), 0),
            json::parse(R"({"create_request":{"key":"AA==","range_end":"AA==","progress_notify":true}})"));
  EXPECT_EQ(wire::range_request("", prefix_end("")), json::parse(R"({"key":"AA==","range_end":"AA=="})"));  // every key
  EXPECT_EQ(wire::watch_request("a", "b", 12),
            json::parse(R"({"create_request":{"key":"YQ==","range_end":"Yg==","start_revision":"12","progress_notify":true}})"));
}

TEST(EtcdJson, TxnRequest) {
  std::vector<Compare> cmp = {
      {.key = "k", .target = Compare::Target::version, .op = Compare::Op::equal, .number = 0},
      {.key = "k", .target = Compare::Target::create_revision, .op = Compare::Op::greater, .number = 3},
      {.key = "k", .target = Compare::Target::mod_revision, .op = Compare::Op::less, .number = 9},
      {.key = "k", .target = Compare::Target::value, .op = Compare::Op::not_equal, .value = "v"},
      {.key = "k", .target = Compare::Target::lease, .op = Compare::Op::equal, .number = 77}};
  std::vector<Request> success = {{.type = Request::Type::put, .key = "k", .value = "v", .lease = 77},
                                  {.type = Request::Type::del, .key = "p/", .prefix = true}};
  std::vector<Request> failure = {{.type = Request::Type::get, .key = "k"}};
  EXPECT_EQ(wire::txn_request(cmp, success, failure), json::parse(R"({
    "compare": [
      {"key": "aw==", "result": "EQUAL", "target": "VERSION", "version": "0"},
      {"key": "aw==", "result": "GREATER", "target": "CREATE", "create_revision": "3"},
      {"key": "aw==", "result": "LESS", "target": "MOD", "mod_revision": "9"},
      {"key": "aw==", "result": "NOT_EQUAL", "target": "VALUE", "value": "dg=="},
      {"key": "aw==", "result": "EQUAL", "target": "LEASE", "lease": "77"}],
    "success": [
      {"request_put": {"key": "aw==", "value": "dg==", "lease": "77"}},
      {"request_delete_range": {"key": "cC8=", "range_end": "cDA="}}],
    "failure": [{"request_range": {"key": "aw=="}}]})"));
}

constexpr const char* kHeader = R"("header":{"cluster_id":"324952591200643719","member_id":"3319814642761637952","revision":"4","raft_term":"2"})";
json answer(const std::string& body) { return wire::parse("{" + std::string(kHeader) + body + "}", "test"); }

TEST(EtcdJson, RangeAnswers) {
  Range r = wire::parse_range(answer(
      R"(,"kvs":[{"key":"Zm9v","create_revision":"2","mod_revision":"3","version":"2","value":"YmFy","lease":"77"}],"count":"1")"));
  EXPECT_EQ(r.revision, 4);
  ASSERT_EQ(r.kvs.size(), 1u);
  EXPECT_EQ(r.kvs[0].key, "foo");
  EXPECT_EQ(r.kvs[0].value, "bar");
  EXPECT_EQ(r.kvs[0].create_revision, 2);
  EXPECT_EQ(r.kvs[0].mod_revision, 3);
  EXPECT_EQ(r.kvs[0].version, 2);
  EXPECT_EQ(r.kvs[0].lease, 77);
  // No key: no "kvs" at all. An empty value: no "value".
  EXPECT_TRUE(wire::parse_range(answer("")).kvs.empty());
  EXPECT_EQ(wire::parse_kv(json::parse(R"({"key":"Zm9v","create_revision":"2","mod_revision":"2","version":"1"})")).value, "");
  EXPECT_EQ(wire::int_field(answer(R"(,"deleted":"1")"), "deleted"), 1);
  EXPECT_EQ(wire::int_field(answer(""), "deleted"), 0);
}

TEST(EtcdJson, TxnAnswers) {
  // Compare failed: "succeeded" is left out, the failure branch's range is there.
  TxnResult f = wire::parse_txn(answer(
      R"(,"responses":[{"response_range":{"header":{"revision":"2"},"kvs":[{"key":"Zm9v","create_revision":"2","mod_revision":"2","version":"1","value":"YmFy"}],"count":"1"}}])"));
  EXPECT_FALSE(f.succeeded);
  EXPECT_EQ(f.revision, 4);
  ASSERT_EQ(f.gets.size(), 1u);
  ASSERT_EQ(f.gets[0].kvs.size(), 1u);
  EXPECT_EQ(f.gets[0].kvs[0].value, "bar");
  // Succeeded: a put and a delete, no gets.
  TxnResult s = wire::parse_txn(answer(
      R"(,"succeeded":true,"responses":[{"response_put":{"header":{"revision":"3"}}},{"response_delete_range":{"header":{"revision":"3"}}}])"));
  EXPECT_TRUE(s.succeeded);
  EXPECT_TRUE(s.gets.empty());
}

TEST(EtcdJson, ErrorAnswers) {
  auto e = wire::parse_error(json::parse(
      R"({"error":"etcdserver: requested lease not found","message":"etcdserver: requested lease not found","code":5})"));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, 5);
  EXPECT_EQ(e->message, "etcdserver: requested lease not found");
  auto s = wire::parse_error(json::parse(
      R"({"error":{"grpc_code":14,"http_code":503,"message":"transport is closing","http_status":"Service Unavailable"}})"));
  ASSERT_TRUE(s);
  EXPECT_EQ(s->code, 14);
  EXPECT_EQ(s->message, "transport is closing");
  EXPECT_FALSE(wire::parse_error(answer("")));
}

TEST(EtcdJson, WatchMessages) {
  auto created = wire::parse_watch(R"({"result":{)" + std::string(kHeader) + R"(,"created":true}})");
  EXPECT_TRUE(created.created);
  EXPECT_EQ(created.revision, 4);
  EXPECT_TRUE(created.events.empty());

  auto batch = wire::parse_watch(R"({"result":{)" + std::string(kHeader) +
                                 R"(,"events":[{"kv":{"key":"Zm9v","create_revision":"2","mod_revision":"2","version":"1","value":"YmFy"}},)"
                                 R"({"kv":{"key":"Zm9v","create_revision":"2","mod_revision":"3","version":"2","value":"eA=="}},)"
                                 R"({"type":"DELETE","kv":{"key":"Zm9v","mod_revision":"4"}}]}})");
  ASSERT_EQ(batch.events.size(), 3u);
  EXPECT_EQ(batch.events[0].type, Event::Type::put);  // PUT is the default: no "type"
  EXPECT_EQ(batch.events[1].kv.value, "x");
  EXPECT_EQ(batch.events[1].kv.mod_revision, 3);
  EXPECT_EQ(batch.events[2].type, Event::Type::del);
  EXPECT_EQ(batch.events[2].kv.key, "foo");
  EXPECT_EQ(batch.events[2].kv.mod_revision, 4);

  // A start revision compacted away: no header revision, canceled with compact_revision.
  auto compacted = wire::parse_watch(
      R"({"result":{"header":{"cluster_id":"324952591200643719","member_id":"3319814642761637952","raft_term":"2"},"canceled":true,"compact_revision":"5"}})");
  EXPECT_TRUE(compacted.canceled);
  EXPECT_EQ(compacted.compact_revision, 5);

  auto err = wire::parse_watch(R"({"error":{"grpc_code":14,"http_code":503,"message":"etcdserver: server stopped","http_status":"Service Unavailable"}})");
  ASSERT_TRUE(err.error);
  EXPECT_EQ(err.error->code, 14);

  // keep-alive of a lease that does not exist: the answer has no TTL.
  auto ka = wire::parse(R"({"result":{)" + std::string(kHeader) + R"(,"ID":"123"}})", "test");
  EXPECT_EQ(wire::int_field(ka["result"], "TTL"), 0);
}

TEST(EtcdJson, MalformedAnswersAreErrors) {
  EXPECT_THROW(wire::parse("not json", "test"), Error);
  EXPECT_THROW(wire::parse("[1]", "test"), Error);
  EXPECT_THROW(wire::int_field(json::parse(R"({"n":"12x"})"), "n"), Error);
  EXPECT_THROW(wire::int_field(json::parse(R"({"n":true})"), "n"), Error);
  EXPECT_EQ(wire::int_field(json::parse(R"({"n":12})"), "n"), 12);
  EXPECT_EQ(wire::int_field(json::parse(R"({"n":"-1"})"), "n"), -1);
  EXPECT_THROW(wire::parse_kv(json::parse(R"({"key":"Zm9"})")), Error);
  EXPECT_THROW(wire::parse_range(json::parse(R"({"kvs":{}})")), Error);
  EXPECT_THROW(wire::parse_watch(R"({"result":{"created":"yes"}})"), Error);
}

TEST(EtcdErrors, SayWhatAndTheCode) {
  Refused r(5, "etcd keep-alive of lease 7: lease not found");
  EXPECT_EQ(r.code(), 5);
  EXPECT_STREQ(r.what(), "etcd keep-alive of lease 7: lease not found (etcd code 5)");
  Compacted c(42);
  EXPECT_EQ(c.compact_revision(), 42);
  EXPECT_NE(std::string(c.what()).find("42"), std::string::npos);
}

TEST(EtcdOptions, BadOptionsNameTheField) {
  auto field_of = [](Options o) -> std::string {
    try {
      Client c(std::move(o));
    } catch (const InvalidInput& e) {
      return e.field();
    }
    return "";
  };
  EXPECT_EQ(field_of({}), "endpoints");
  EXPECT_EQ(field_of({.endpoints = {"http://10.0.0.1:2379", "10.0.0.2:2379"}}), "endpoints[1]");
  EXPECT_EQ(field_of({.endpoints = {"https://10.0.0.1:2379"}, .ca_file = "/nonexistent/etc-ca.pem"}), "ca_file");
  EXPECT_EQ(field_of({.endpoints = {"https://10.0.0.1:2379"}, .key_file = "/nonexistent/etc-key.pem"}), "key_file");
  EXPECT_EQ(field_of({.endpoints = {"http://10.0.0.1:2379"}, .timeout = std::chrono::milliseconds(0)}), "timeout");
  Client ok({.endpoints = {"http://10.0.0.1:2379/", "http://10.0.0.2:2379"}});
  EXPECT_EQ(ok.endpoint(), "http://10.0.0.1:2379");  // the first, its trailing '/' dropped
}

// The binary is also every CNI plugin: starting it must not load libcurl (the node agent dlopen()s it).
TEST(EtcdStartup, TheBinaryDoesNotLoadLibcurl) {
  auto r = test::run({CTNET_BINARY, "--help"}, {{"LD_DEBUG", "libs"}});
  EXPECT_NE(r.err.find("libc.so"), std::string::npos) << "LD_DEBUG gave no output: " << r.err;
  EXPECT_EQ(r.err.find("libcurl"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace ctnet::etcd
