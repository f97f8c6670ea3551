#include "node/http.h"

#include <curl/curl.h>  // types and constants only: the functions come from dlopen()
#include <dlfcn.h>
#include <fmt/format.h>

#include <exception>
#include <mutex>

#include "util/error.h"

namespace ctnet::etcd::http {
namespace {

// The entry points of libcurl we use, typed after its own declarations.
struct Lib {
  decltype(&::curl_global_init) global_init;
  decltype(&::curl_easy_init) easy_init;
  decltype(&::curl_easy_cleanup) easy_cleanup;
  decltype(&::curl_easy_setopt) easy_setopt;
  decltype(&::curl_easy_getinfo) easy_getinfo;
  decltype(&::curl_easy_strerror) easy_strerror;
  decltype(&::curl_slist_append) slist_append;
  decltype(&::curl_slist_free_all) slist_free_all;
  decltype(&::curl_multi_init) multi_init;
  decltype(&::curl_multi_cleanup) multi_cleanup;
  decltype(&::curl_multi_add_handle) multi_add_handle;
  decltype(&::curl_multi_remove_handle) multi_remove_handle;
  decltype(&::curl_multi_perform) multi_perform;
  decltype(&::curl_multi_poll) multi_poll;
  decltype(&::curl_multi_info_read) multi_info_read;
  decltype(&::curl_multi_strerror) multi_strerror;
};

const Lib& lib() {
  static Lib l;
  static std::once_flag once;
  static std::string failure;
  std::call_once(once, [] {
    void* h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
      failure = dlerror();
      return;
    }
    auto sym = [&]<typename F>(F& slot, const char* name) {
      slot = reinterpret_cast<F>(dlsym(h, name));
      if (!slot) failure = fmt::format("libcurl.so.4 lacks {}", name);
    };
    sym(l.global_init, "curl_global_init");
    sym(l.easy_init, "curl_easy_init");
    sym(l.easy_cleanup, "curl_easy_cleanup");
    sym(l.easy_setopt, "curl_easy_setopt");
    sym(l.easy_getinfo, "curl_easy_getinfo");
    sym(l.easy_strerror, "curl_easy_strerror");
    sym(l.slist_append, "curl_slist_append");
    sym(l.slist_free_all, "curl_slist_free_all");
    sym(l.multi_init, "curl_multi_init");
    sym(l.multi_cleanup, "curl_multi_cleanup");
    sym(l.multi_add_handle, "curl_multi_add_handle");
    sym(l.multi_remove_handle, "curl_multi_remove_handle");
    sym(l.multi_perform, "curl_multi_perform");
    sym(l.multi_poll, "curl_multi_poll");  // libcurl 7.66 or later
    sym(l.multi_info_read, "curl_multi_info_read");
    sym(l.multi_strerror, "curl_multi_strerror");
    if (failure.empty() && l.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) failure = "curl_global_init failed";
  });
  if (!failure.empty()) throw Error("the etcd client needs libcurl (package libcurl4): " + failure);
  return l;
}

// The state of one transfer, shared with the write callback.
struct Transfer {
  const Post& p;
  const Lib& l;
  CURL* easy = nullptr;
  CURLM* multi = nullptr;
  curl_slist* headers = nullptr;
  Answer a;
  std::string pending;  // a stream's incomplete last line
  bool received = false, ended_by_handler = false;
  std::exception_ptr failure;
  char errbuf[CURL_ERROR_SIZE] = "";  // curl's text of a failure

  ~Transfer() {
    if (multi && easy) l.multi_remove_handle(multi, easy);
    if (easy) l.easy_cleanup(easy);
    if (multi) l.multi_cleanup(multi);
    if (headers) l.slist_free_all(headers);
  }
};

size_t on_write(char* data, size_t size, size_t n, void* user) {
  auto& t = *static_cast<Transfer*>(user);
  const size_t len = size * n;
  t.received = true;
  long status = 0;
  t.l.easy_getinfo(t.easy, CURLINFO_RESPONSE_CODE, &status);
  if (!t.p.on_line || status / 100 != 2) {
    t.a.body.append(data, len);
    return len;
  }
  t.pending.append(data, len);
  size_t start = 0;
  try {
    for (size_t nl; (nl = t.pending.find('\n', start)) != std::string::npos; start = nl + 1) {
      std::string_view line(t.pending.data() + start, nl - start);
      if (line.ends_with('\r')) line.remove_suffix(1);
      if (line.empty()) continue;
      if (!t.p.on_line(line)) {
        t.ended_by_handler = true;
        return 0;  // ends the transfer (CURLE_WRITE_ERROR, which post() does not report)
      }
    }
  } catch (...) {
    t.failure = std::current_exception();  // never through libcurl's C frames
    return 0;
  }
  t.pending.erase(0, start);
  return len;
}

// TLS failures name the files involved: "SSL certificate problem: ..." alone does not say which CA was used.
bool is_tls_error(CURLcode rc) {
  switch (rc) {
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_CRL_BADFILE:
      return true;
    default:
      return false;
  }
}
std::string tls_files(const Tls* tls) {
  const Tls none;
  if (!tls) tls = &none;
  std::string s = tls->ca_file.empty() ? " (the system's CAs" : " (ca_file " + tls->ca_file;
  s += tls->cert_file.empty() ? ", no client certificate" : ", cert_file " + tls->cert_file;
  if (!tls->key_file.empty()) s += ", key_file " + tls->key_file;
  return s + ")";
}

}  // namespace

Answer post(const Post& p) {
  const Lib& l = lib();
  Transfer t{.p = p, .l = l};
  t.easy = l.easy_init();
  t.multi = l.multi_init();
  if (!t.easy || !t.multi) {
    t.a.error = "cannot create a curl handle";
    return t.a;
  }
  CURL* e = t.easy;
  t.headers = l.slist_append(nullptr, "Content-Type: application/json");
  t.headers = l.slist_append(t.headers, "Expect:");
  l.easy_setopt(e, CURLOPT_URL, p.url.c_str());
  l.easy_setopt(e, CURLOPT_POSTFIELDS, p.body.c_str());
  l.easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(p.body.size()));
  l.easy_setopt(e, CURLOPT_HTTPHEADER, t.headers);
  l.easy_setopt(e, CURLOPT_WRITEFUNCTION, &on_write);
  l.easy_setopt(e, CURLOPT_WRITEDATA, &t);
  l.easy_setopt(e, CURLOPT_ERRORBUFFER, t.errbuf);
  l.easy_setopt(e, CURLOPT_NOSIGNAL, 1L);  // threads: no SIGALRM for resolver timeouts
  l.easy_setopt(e, CURLOPT_PROXY, "");     // the cluster's own endpoints: never through an http_proxy of the host
  l.easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(p.connect_timeout.count()));
  if (p.total_timeout.count() > 0) l.easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(p.total_timeout.count()));
  // A stream to a host that vanished (no FIN, no RST) ends after about 10 s + 9 probes of 5 s.
  l.easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  l.easy_setopt(e, CURLOPT_TCP_KEEPIDLE, 10L);
  l.easy_setopt(e, CURLOPT_TCP_KEEPINTVL, 5L);
  if (p.tls) {
    if (!p.tls->ca_file.empty()) l.easy_setopt(e, CURLOPT_CAINFO, p.tls->ca_file.c_str());
    if (!p.tls->cert_file.empty()) l.easy_setopt(e, CURLOPT_SSLCERT, p.tls->cert_file.c_str());
    if (!p.tls->key_file.empty()) l.easy_setopt(e, CURLOPT_SSLKEY, p.tls->key_file.c_str());
  }
  l.multi_add_handle(t.multi, e);

  // The multi interface, so that `stop` is looked at every 100 ms (curl_easy_perform's progress callback may
  // wait a whole second between calls while a stream is idle).
  const auto t0 = std::chrono::steady_clock::now();
  CURLcode rc = CURLE_OK;
  bool done = false;
  for (int running = 1; !done;) {
    if (CURLMcode mc = l.multi_perform(t.multi, &running); mc != CURLM_OK) {
      t.a.error = l.multi_strerror(mc);
      break;
    }
    int queued = 0;
    while (CURLMsg* m = l.multi_info_read(t.multi, &queued))
      if (m->msg == CURLMSG_DONE) {
        rc = m->data.result;
        done = true;
      }
    if (done) break;
    if (p.stop && p.stop->load()) {
      t.a.stopped = true;
      break;
    }
    if (!t.received && p.first_byte_timeout.count() > 0 && std::chrono::steady_clock::now() - t0 > p.first_byte_timeout) {
      t.a.error = fmt::format("no answer within {} ms", p.first_byte_timeout.count());
      break;
    }
    l.multi_poll(t.multi, nullptr, 0, 100, nullptr);
  }
  if (t.failure) std::rethrow_exception(t.failure);  // ~Transfer cleans up
  l.easy_getinfo(e, CURLINFO_RESPONSE_CODE, &t.a.status);
  t.a.answered = t.a.status != 0;
  if (t.ended_by_handler) {
    t.a.stopped = true;
  } else if (done && rc != CURLE_OK && !t.a.stopped) {
    t.a.error = t.errbuf[0] ? t.errbuf : l.easy_strerror(rc);
    // A refused client certificate arrives as a failed read ("... alert bad certificate", or only a connection
    // the server closed): on an https endpoint that never answered, name the TLS files too.
    if (is_tls_error(rc) || t.a.error.find("SSL") != std::string::npos || (p.url.starts_with("https://") && !t.a.answered))
      t.a.error += tls_files(p.tls);
  }
  return t.a;
}

}  // namespace ctnet::etcd::http
