// A request's head (RFC 9112 sections 2-3, 6): parsed incrementally by
// Boost.Beast's request parser, without I/O. The caller feeds the bytes it
// read; the parser says whether it needs more, has the head, or refuses it,
// and how many of the fed bytes were the head's, so that what follows (a
// body, or the tunnelled bytes after CONNECT) stays with the caller.
//
// A pure codec (anytls_codec, fuzzed by tests/fuzz/fuzz_http_request): Beast
// stays in request_head.cpp.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace anytls::http {

struct Field {
  std::string name;
  std::string value;
};
using Fields = std::vector<Field>;

bool iequals(std::string_view a, std::string_view b);

struct RequestHead {
  std::string method;
  std::string target;     // as sent: origin-, absolute-, authority- or asterisk-form
  int version_minor = 1;  // HTTP/1.<minor>; only 0 and 1 are accepted
  Fields fields;          // in the order sent
  std::optional<std::uint64_t> content_length;  // the parser checked it
  bool chunked = false;   // Transfer-Encoding ends in chunked

  // The first field of that name (case-insensitive).
  std::optional<std::string_view> field(std::string_view name) const;
  // Whether any field `name` lists `token` in its comma-separated value
  // (case-insensitive).
  bool has_token(std::string_view name, std::string_view token) const;
  // Whether the client wants the connection kept after this request
  // (Proxy-Connection counts too: old proxy clients send it).
  bool keep_alive() const;
  // Connection: upgrade with an Upgrade field.
  bool upgrade() const;
};

class RequestHeadParser {
 public:
  enum class Result { need_more, done, bad, too_large };

  // max_head: the most bytes a head may have, leading empty lines included.
  explicit RequestHeadParser(std::size_t max_head);
  ~RequestHeadParser();
  RequestHeadParser(RequestHeadParser&&) noexcept;
  RequestHeadParser& operator=(RequestHeadParser&&) noexcept;

  // Takes bytes of `in` until the head is complete. used: how many of them
  // were the head's; with need_more that is all of them (the parser keeps
  // them, at most max_head). Once done, bad or too_large, further calls
  // return the same and use nothing.
  Result feed(std::string_view in, std::size_t& used);

  // After done: the head (moved out by take()).
  const RequestHead& head() const;
  RequestHead take();
  // After bad: what was wrong, for logs.
  const std::string& error() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace anytls::http
