#include "http/request_writer.hpp"

#include <cctype>

#include "http/beast.hpp"
#include "http/client_error.hpp"

namespace anytls::http {
namespace {

// Beast takes header values as they are: a CR or LF would end the line
// early and let a value smuggle fields of its own.
bool field_text_clean(std::string_view s) { return s.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos; }

bool method_carries_body(beast_http::verb v) {
  return v == beast_http::verb::post || v == beast_http::verb::put || v == beast_http::verb::patch;
}

}  // namespace

net::Result<std::string> serialize(const Request& request) {
  bool ok = !request.method.empty() && request.method.find(' ') == std::string::npos && field_text_clean(request.method) &&
            !request.target.empty() && request.target.find(' ') == std::string::npos && field_text_clean(request.target) &&
            field_text_clean(request.host);
  for (const auto& h : request.headers) ok = ok && !h.name.empty() && field_text_clean(h.name) && field_text_clean(h.value);
  if (!ok) return client_error(ClientError::bad_request, "request with a CR, LF, NUL or space where none may be");

  beast_http::request<beast_http::string_body> msg;
  const beast_http::verb verb = beast_http::string_to_verb(request.method);
  if (verb == beast_http::verb::unknown) msg.method_string(request.method);
  else msg.method(verb);
  msg.target(request.target);
  msg.version(11);
  msg.set(beast_http::field::host, request.host);
  for (const auto& h : request.headers) msg.insert(h.name, h.value);
  msg.body() = request.body;
  if (!request.body.empty() || method_carries_body(verb)) msg.prepare_payload();

  std::string out;
  out.reserve(256 + request.body.size());
  beast_http::serializer<true, beast_http::string_body> writer(msg);
  boost::system::error_code ec;
  while (!writer.is_done()) {
    writer.next(ec, [&](boost::system::error_code&, const auto& buffers) {
      std::size_t n = 0;
      for (auto it = boost::asio::buffer_sequence_begin(buffers); it != boost::asio::buffer_sequence_end(buffers); ++it) {
        const boost::asio::const_buffer b = *it;
        out.append(static_cast<const char*>(b.data()), b.size());
        n += b.size();
      }
      writer.consume(n);
    });
    if (ec) return net::Error{to_std(ec), "serialize request: " + ec.message()};
  }
  return out;
}

asio::awaitable<net::Result<std::size_t>> write_request(net::Conn& conn, const Request& request) {
  auto bytes = serialize(request);
  if (!bytes) co_return bytes.error();
  const asio::const_buffer buffer = asio::buffer(*bytes);
  const std::error_code ec = co_await conn.write(buffer);
  if (ec) co_return net::Error{ec, "write request: " + ec.message()};
  co_return bytes->size();
}

}  // namespace anytls::http
