#include "http/response.hpp"

#include "http/beast.hpp"

namespace anytls::http {

namespace {

template <class Buffers>
void append(std::string& out, const Buffers& buffers) {
  for (auto it = boost::asio::buffer_sequence_begin(buffers); it != boost::asio::buffer_sequence_end(buffers); ++it) {
    const boost::asio::const_buffer b = *it;
    out.append(static_cast<const char*>(b.data()), b.size());
  }
}

bool has_body(int status) { return status >= 200 && status != 204 && status != 304; }

beast_http::response<beast_http::string_body> message(const Response& r, bool with_length) {
  beast_http::response<beast_http::string_body> m;
  m.version(11);
  m.result(static_cast<unsigned>(r.status));
  if (!r.reason.empty()) m.reason(r.reason);
  bool length = false;
  for (const auto& f : r.fields) {
    m.insert(f.name, f.value);
    length = length || iequals(f.name, "Content-Length");
  }
  if (with_length && !length && has_body(r.status)) m.set(beast_http::field::content_length, std::to_string(r.body.size()));
  if (r.close) m.set(beast_http::field::connection, "close");
  return m;
}

// Runs the serializer over m: the head, and the body unless head_only.
std::string write(beast_http::response<beast_http::string_body>& m, bool head_only) {
  std::string out;
  beast_http::serializer<false, beast_http::string_body> sr(m);
  sr.split(head_only);
  boost::system::error_code ec;
  while (!(head_only ? sr.is_header_done() : sr.is_done())) {
    std::size_t n = 0;
    sr.next(ec, [&](boost::system::error_code&, const auto& buffers) {
      n = boost::asio::buffer_size(buffers);
      append(out, buffers);
    });
    if (ec) break;  // string bodies do not fail
    sr.consume(n);
  }
  return out;
}

}  // namespace

std::string_view Response::field(std::string_view name) const {
  for (const auto& f : fields)
    if (iequals(f.name, name)) return f.value;
  return {};
}

std::string serialize(const Response& r, bool head_only) {
  auto m = message(r, true);
  if (!head_only) m.body() = r.body;
  return write(m, head_only);
}

std::string serialize_head(const Response& r) {
  auto m = message(r, false);
  return write(m, true);
}

std::string chunk(std::string_view data) {
  std::string out;
  append(out, beast_http::make_chunk(boost::asio::const_buffer(data.data(), data.size())));
  return out;
}

std::string last_chunk() {
  std::string out;
  append(out, beast_http::make_chunk_last());
  return out;
}

}  // namespace anytls::http
