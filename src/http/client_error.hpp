// What can go wrong in a client exchange, as std::error_code values (the
// code says what, the net::Error message around it says where and how much).
#pragma once
#include <chrono>
#include <string>
#include <system_error>

#include "net/result.hpp"

namespace anytls::http {

enum class ClientError {
  bad_request = 1,   // a request field the serializer refuses (CR/LF in it)
  not_http,          // what came back is not an HTTP/1.x response
  no_response,       // closed before a complete head
  head_too_large,    // over ResponseLimits::max_head
  body_too_large,    // over ResponseLimits::max_body
  short_body,        // closed before Content-Length bytes
  bad_chunk,         // a chunked body that does not parse or ends early
  timed_out,         // the exchange's deadline passed
};

const std::error_category& client_category();
inline std::error_code make_error_code(ClientError e) { return {static_cast<int>(e), client_category()}; }

// net::Error of that code; `text` says it with the figures ("response over
// 1024 bytes (Content-Length 5000)"), empty: the code's own words.
net::Error client_error(ClientError e, std::string text = {});

// ClientError::timed_out: "no complete response within 60 s" (or "500 ms").
net::Error timed_out(std::chrono::nanoseconds limit);

}  // namespace anytls::http

template <>
struct std::is_error_code_enum<anytls::http::ClientError> : std::true_type {};
