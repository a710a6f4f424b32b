// A response's bytes (RFC 9112 sections 4, 6, 7.1), written by Boost.Beast's
// serializer: what the servers send, whole or as a head that a streamed body
// follows (a file, chunks, WebSocket frames).
#pragma once
#include <string>
#include <string_view>

#include "http/request_head.hpp"

namespace anytls::http {

// A response the servers send, or the client received.
struct Response {
  int status = 200;
  std::string reason;  // empty: the standard phrase of the status
  Fields fields;       // in the order sent
  std::string body;
  bool close = false;  // Connection: close, and the connection ends after it

  // The first value of the field `name` (any case); empty when absent.
  std::string_view field(std::string_view name) const;
};

// The head and body. Content-Length is added after the fields (unless one is
// among them, or the status has no body: 1xx, 204, 304), then Connection:
// close. head_only (the answer to HEAD) sends the same head without the body.
std::string serialize(const Response& r, bool head_only = false);
// The head alone, with the fields as given (no Content-Length added).
std::string serialize_head(const Response& r);

// One chunk of a chunked body (never empty: that would end it), and the end.
std::string chunk(std::string_view data);
std::string last_chunk();

}  // namespace anytls::http
