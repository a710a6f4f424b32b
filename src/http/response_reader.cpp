#include "http/response_reader.hpp"

#include <algorithm>
#include <cstdint>
#include <optional>

#include "http/beast.hpp"
#include "http/client_error.hpp"

namespace anytls::http {

namespace {

// One read's worth; what is pending never grows past max_head + this.
constexpr std::size_t kResponseReadSize = 16 * 1024;

using ResponseParser = beast_http::response_parser<beast_http::string_body>;

}  // namespace

std::string size_words(std::size_t bytes) {
  if (bytes >= 1024 && bytes % 1024 == 0) return std::to_string(bytes / 1024) + " KiB";
  return std::to_string(bytes) + " bytes";
}

struct ResponseReader::State {
  State(net::Conn& c, ResponseLimits l) : conn(c), limits(std::move(l)) { reset(); }

  // A fresh parser (for the response after a 1xx): the head within
  // max_head, no body limit until the head has been looked at.
  void reset() {
    parser.emplace();
    parser->header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(limits.max_head, UINT32_MAX)));
    parser->body_limit(boost::none);
  }

  net::Error parse_error(const boost::system::error_code& ec) const {
    if (ec == beast_http::error::header_limit)
      return client_error(ClientError::head_too_large, "response head over " + size_words(limits.max_head));
    if (ec == beast_http::error::body_limit)
      return client_error(ClientError::body_too_large, "response over " + std::to_string(limits.max_body) + " bytes");
    if (!parser->is_header_done()) return client_error(ClientError::not_http, "not an HTTP response (" + ec.message() + ")");
    if (parser->chunked()) return client_error(ClientError::bad_chunk, "bad chunked body (" + ec.message() + ")");
    return net::Error{to_std(ec), "bad response body: " + ec.message()};
  }

  // Parses what is pending. Stops when the head is complete (the caller
  // looks at it before the body), or the message is, or more is needed.
  std::optional<net::Error> parse_pending() {
    std::size_t used = 0;
    bool needs_more = false;
    while (used < pending.size() && !parser->is_done()) {
      const bool had_head = parser->is_header_done();
      boost::system::error_code ec;
      used += parser->put(boost::asio::buffer(pending.data() + used, pending.size() - used), ec);
      needs_more = ec == beast_http::error::need_more;
      if (needs_more) break;
      if (ec) return parse_error(ec);
      if (!had_head && parser->is_header_done()) break;
    }
    pending.erase(0, used);
    // What the parser cannot take yet: part of the head, of a chunk-size
    // line or of the trailer. A peer must not grow it without end.
    if (needs_more && pending.size() > limits.max_head) {
      if (!parser->is_header_done())
        return client_error(ClientError::head_too_large, "response head over " + size_words(limits.max_head));
      return client_error(ClientError::bad_chunk, "bad chunked body (a chunk line or trailer over " +
                                                      size_words(limits.max_head) + ")");
    }
    return std::nullopt;
  }

  net::Conn& conn;
  ResponseLimits limits;
  std::optional<ResponseParser> parser;
  std::string pending;  // read, not yet taken by the parser
  bool first_byte = false;
  bool eof = false;
  bool body_started = false;
};

ResponseReader::ResponseReader(net::Conn& conn, ResponseLimits limits)
    : s_(std::make_unique<State>(conn, std::move(limits))) {}

ResponseReader::~ResponseReader() = default;

// One read, parsed. At the end of the stream it only notes the end: what
// that means depends on where the parser is.
asio::awaitable<std::optional<net::Error>> ResponseReader::read_more() {
  State& s = *s_;
  const std::size_t old = s.pending.size();
  s.pending.resize(old + kResponseReadSize);
  const asio::mutable_buffer space = asio::buffer(s.pending.data() + old, kResponseReadSize);
  auto [ec, n] = co_await s.conn.read_some(space);
  s.pending.resize(old + n);
  if (n > 0 && !s.first_byte) {
    s.first_byte = true;
    if (s.limits.on_first_byte) s.limits.on_first_byte();
  }
  auto bad = s.parse_pending();
  if (bad) co_return bad;
  if (ec == asio::error::eof) {  // TlsConn reports a close without close_notify so too
    s.eof = true;
    co_return std::nullopt;
  }
  if (ec) {
    const std::string why = s.conn.failure();
    co_return net::Error{ec, "read response: " + (why.empty() ? ec.message() : why)};
  }
  co_return std::nullopt;
}

asio::awaitable<net::Result<Response>> ResponseReader::read_head() {
  State& s = *s_;
  while (true) {
    if (s.parser->is_header_done()) {
      const unsigned status = s.parser->get().result_int();
      if (status / 100 != 1 || status == 101) break;
      s.reset();  // 100 Continue and the like: the response follows
      auto bad = s.parse_pending();
      if (bad) co_return *bad;
      continue;
    }
    if (s.eof) co_return client_error(ClientError::no_response);
    auto bad = co_await read_more();
    if (bad) co_return *bad;
  }
  const auto& msg = s.parser->get();
  Response r;
  r.status = static_cast<int>(msg.result_int());
  r.reason = std::string(msg.reason());
  for (const auto& field : msg) r.fields.push_back(Field{std::string(field.name_string()), std::string(field.value())});
  co_return r;
}

asio::awaitable<net::Result<std::string>> ResponseReader::read_body() {
  State& s = *s_;
  if (!s.parser->is_header_done()) co_return client_error(ClientError::no_response, "read_body before the head");
  if (!s.body_started) {
    s.body_started = true;
    const auto length = s.parser->content_length();
    if (length && *length > s.limits.max_body)
      co_return client_error(ClientError::body_too_large, "response over " + std::to_string(s.limits.max_body) +
                                                              " bytes (Content-Length " + std::to_string(*length) + ")");
    s.parser->body_limit(s.limits.max_body);
    s.parser->eager(true);
    auto bad = s.parse_pending();
    if (bad) co_return *bad;
  }
  while (!s.parser->is_done()) {
    if (s.eof) {
      boost::system::error_code ec;
      s.parser->put_eof(ec);
      if (!ec) break;  // the close ends a body with neither length nor chunks
      if (s.parser->chunked())
        co_return client_error(ClientError::bad_chunk, "bad chunked body (closed before the last chunk)");
      co_return client_error(ClientError::short_body);
    }
    auto bad = co_await read_more();
    if (bad) co_return *bad;
  }
  co_return std::move(s.parser->get().body());
}

}  // namespace anytls::http
