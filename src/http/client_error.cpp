#include "http/client_error.hpp"

namespace anytls::http {
namespace {

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "http client"; }
  std::string message(int e) const override {
    switch (static_cast<ClientError>(e)) {
      case ClientError::bad_request: return "bad request field";
      case ClientError::not_http: return "not an HTTP response";
      case ClientError::no_response: return "no complete response";
      case ClientError::head_too_large: return "response head too large";
      case ClientError::body_too_large: return "response body too large";
      case ClientError::short_body: return "body shorter than its Content-Length";
      case ClientError::bad_chunk: return "bad chunked body";
      case ClientError::timed_out: return "no complete response in time";
    }
    return "http client error";
  }
};

}  // namespace

const std::error_category& client_category() {
  static const Category c;
  return c;
}

net::Error client_error(ClientError e, std::string text) { return net::Error{e, std::move(text)}; }

net::Error timed_out(std::chrono::nanoseconds limit) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(limit).count();
  return client_error(ClientError::timed_out, "no complete response within " + (ms % 1000 ? std::to_string(ms) + " ms"
                                                                                           : std::to_string(ms / 1000) + " s"));
}

}  // namespace anytls::http
