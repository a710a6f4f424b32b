// Reads one HTTP/1.x response from a connection, with Beast's parser fed by
// our own reads: the head first (so the caller can look at the status before
// any body is read), then the body, each within its cap. The parser lives in
// response_reader.cpp, out of every header.
#pragma once
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <asio/awaitable.hpp>

#include "http/request_writer.hpp"
#include "http/response.hpp"
#include "net/conn.hpp"
#include "net/result.hpp"

namespace anytls::http {

struct ResponseLimits {
  // The status line and fields together; the bytes held while a chunk-size
  // line or the trailer is incomplete, too.
  std::size_t max_head = 64 * 1024;
  // The body: a larger Content-Length is refused before a byte of it is
  // read; a chunked or close-delimited body is cut off where it passes it.
  std::size_t max_body = 1 << 20;
  // Called once, when the first bytes of the response arrive (the urltest
  // probe's delay ends there).
  std::function<void()> on_first_byte{};
};

class ResponseReader {
 public:
  ResponseReader(net::Conn& conn, ResponseLimits limits);
  ~ResponseReader();
  ResponseReader(const ResponseReader&) = delete;
  ResponseReader& operator=(const ResponseReader&) = delete;

  // Up to the blank line after the fields (1xx interim responses skipped):
  // the status, reason and fields; an empty body.
  asio::awaitable<net::Result<Response>> read_head();
  // After read_head(): the body, by Content-Length (nothing past it is
  // parsed; a close before it is ClientError::short_body), chunked (up to
  // the last chunk and trailer), or up to the close when it has neither.
  asio::awaitable<net::Result<std::string>> read_body();

 private:
  struct State;
  asio::awaitable<std::optional<net::Error>> read_more();
  std::unique_ptr<State> s_;
};

// What a limit is in words: "64 KiB", "1000 bytes".
std::string size_words(std::size_t bytes);

}  // namespace anytls::http
