// One HTTP(S) POST through libcurl, which is dlopen()ed on first use (the CNI plugins, the same binary, never
// load it). Every call has its own easy handle, so any number of threads may post at once.
#pragma once
#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <string_view>

namespace ctnet::etcd::http {

struct Tls {
  std::string ca_file, cert_file, key_file;  // PEM; empty: the system's CAs, no client certificate
};

struct Post {
  std::string url, body;            // body: JSON
  const Tls* tls = nullptr;
  std::chrono::milliseconds connect_timeout{3000};
  std::chrono::milliseconds total_timeout{0};        // 0: none (a stream)
  std::chrono::milliseconds first_byte_timeout{0};   // 0: none; a stream whose server never answers ends
  // A stream: called with each line of a 2xx answer (without the '\n'); returning false ends the transfer. An
  // exception it throws ends the transfer too and leaves post() after the handle is cleaned up. Unset: the whole
  // body is returned in Answer::body.
  std::function<bool(std::string_view line)> on_line;
  const std::atomic<bool>* stop = nullptr;  // checked every 100 ms: ends the transfer (Answer::stopped)
};

struct Answer {
  bool answered = false;   // the server sent an HTTP status (even an error status)
  bool stopped = false;    // ended by `stop` or by on_line returning false
  long status = 0;         // HTTP status
  std::string body;        // the body (for a stream: only when the status is not 2xx)
  std::string error;       // when the transfer failed (also after an answer began): curl's text
};

// Throws Error only when libcurl cannot be loaded; transport failures are in the Answer.
Answer post(const Post& p);

}  // namespace ctnet::etcd::http
