#include "http/request_head.hpp"

#include "http/beast.hpp"

namespace anytls::http {

namespace {

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

std::optional<std::string_view> RequestHead::field(std::string_view name) const {
  for (const auto& f : fields)
    if (iequals(f.name, name)) return std::string_view(f.value);
  return std::nullopt;
}

bool RequestHead::has_token(std::string_view name, std::string_view token) const {
  for (const auto& f : fields) {
    if (!iequals(f.name, name)) continue;
    std::string_view v = f.value;
    while (!v.empty()) {
      const auto comma = v.find(',');
      if (iequals(trim(v.substr(0, comma)), token)) return true;
      if (comma == std::string_view::npos) break;
      v.remove_prefix(comma + 1);
    }
  }
  return false;
}

bool RequestHead::keep_alive() const {
  if (has_token("Connection", "close") || has_token("Proxy-Connection", "close")) return false;
  if (version_minor >= 1) return true;
  return has_token("Connection", "keep-alive") || has_token("Proxy-Connection", "keep-alive");
}

bool RequestHead::upgrade() const { return has_token("Connection", "upgrade") && field("Upgrade").has_value(); }

struct RequestHeadParser::Impl {
  explicit Impl(std::size_t max) : max_head(max) {
    parser.header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(max, UINT32_MAX)));
    // The body is the caller's (its own limit, or a tunnel): Beast must not
    // refuse a head for the length it announces.
    parser.body_limit(boost::none);
  }
  beast_http::request_parser<beast_http::empty_body> parser;
  std::size_t max_head;
  std::string bytes;        // the head so far, after leading empty lines
  std::size_t taken = 0;    // of bytes, what Beast has consumed
  std::size_t skipped = 0;  // leading empty lines' bytes
  bool in_line_break = false;  // a leading CR waits for its LF
  Result result = Result::need_more;
  RequestHead head;
  std::string error;

  Result fail(Result r, std::string why) {
    result = r;
    error = std::move(why);
    return r;
  }
  // Leading empty lines (RFC 9112 section 2.2: a server SHOULD ignore
  // them); returns how many bytes of `in` they took.
  std::size_t skip_empty_lines(std::string_view in);
  void finish();
};

std::size_t RequestHeadParser::Impl::skip_empty_lines(std::string_view in) {
  std::size_t i = 0;
  while (bytes.empty() && i < in.size() && skipped < max_head) {
    const char c = in[i];
    if (in_line_break && c != '\n') break;  // a stray CR: refused by feed()
    if (c != '\r' && c != '\n') break;
    in_line_break = c == '\r';
    ++i;
    ++skipped;
  }
  return i;
}

void RequestHeadParser::Impl::finish() {
  const auto& msg = parser.get();
  const unsigned version = msg.version();
  if (version != 10 && version != 11) {
    fail(Result::bad, "unsupported HTTP version");
    return;
  }
  head.method.assign(msg.method_string());
  head.target.assign(msg.target());
  head.version_minor = static_cast<int>(version % 10);
  for (const auto& f : msg) head.fields.push_back(Field{std::string(f.name_string()), std::string(f.value())});
  if (const auto len = parser.content_length()) head.content_length = *len;
  head.chunked = parser.chunked();
  result = Result::done;
}

RequestHeadParser::RequestHeadParser(std::size_t max_head) : impl_(std::make_unique<Impl>(max_head)) {}
RequestHeadParser::~RequestHeadParser() = default;
RequestHeadParser::RequestHeadParser(RequestHeadParser&&) noexcept = default;
RequestHeadParser& RequestHeadParser::operator=(RequestHeadParser&&) noexcept = default;

RequestHeadParser::Result RequestHeadParser::feed(std::string_view in, std::size_t& used) {
  auto& m = *impl_;
  used = 0;
  if (m.result != Result::need_more) return m.result;
  used = m.skip_empty_lines(in);
  if (m.skipped >= m.max_head) return m.fail(Result::too_large, "empty lines only");
  if (used == in.size()) return Result::need_more;
  if (m.in_line_break) return m.fail(Result::bad, "CR without LF before the request line");
  // Never more than a head may be: the rest is not ours to keep.
  const std::size_t room = m.max_head - m.skipped - m.bytes.size();
  const std::size_t before = m.bytes.size();
  m.bytes.append(in.substr(used, room));
  boost::system::error_code ec;
  const std::string_view rest = std::string_view(m.bytes).substr(m.taken);
  m.taken += m.parser.put(boost::asio::buffer(rest.data(), rest.size()), ec);
  if (ec == beast_http::error::need_more) {
    if (m.skipped + m.bytes.size() >= m.max_head) return m.fail(Result::too_large, "head too large");
    used += m.bytes.size() - before;
    return Result::need_more;
  }
  if (ec == beast_http::error::header_limit) return m.fail(Result::too_large, "head too large");
  if (ec) return m.fail(Result::bad, ec.message());
  if (!m.parser.is_header_done()) return m.fail(Result::bad, "incomplete head");
  // What Beast took beyond the earlier bytes came from `in`.
  used += m.taken > before ? m.taken - before : 0;
  m.bytes.clear();
  m.bytes.shrink_to_fit();
  m.finish();
  return m.result;
}

const RequestHead& RequestHeadParser::head() const { return impl_->head; }
RequestHead RequestHeadParser::take() { return std::move(impl_->head); }
const std::string& RequestHeadParser::error() const { return impl_->error; }

}  // namespace anytls::http
