#include "http/proxy_codec.hpp"

#include <algorithm>
#include <array>
#include <charconv>

#include "http/response.hpp"

namespace anytls::http::proxy {

namespace {

constexpr std::size_t kMaxExtension = 4096;
constexpr std::size_t kMaxTrailers = kMaxHeadSize;

bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

bool is_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), is_tchar);
}

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool valid_field_value(std::string_view v) {
  for (char c : v) {
    auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u == 0x7F) return false;
  }
  return true;
}

struct Lines {
  std::vector<std::string_view> lines;  // the start line, then header lines
  std::size_t consumed = 0;
};

// Splits a head into lines (CRLF or bare LF) up to the empty line.
template <class T>
bool split_head(std::string_view in, std::size_t max_size, Lines& out, Parsed<T>& r) {
  std::size_t pos = 0;
  // Leading empty lines.
  while (pos < in.size() && (in[pos] == '\r' || in[pos] == '\n')) {
    if (in[pos] == '\r' && (pos + 1 >= in.size() || in[pos + 1] != '\n')) break;
    pos += in[pos] == '\r' ? 2 : 1;
    if (pos > max_size) {
      r.status = Status::too_large;
      return false;
    }
  }
  for (;;) {
    auto nl = in.find('\n', pos);
    if (nl == std::string_view::npos || nl + 1 > max_size) {
      r.status = (in.size() >= max_size || nl != std::string_view::npos) ? Status::too_large
                                                                          : Status::need_more;
      return false;
    }
    std::string_view line = in.substr(pos, nl - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    pos = nl + 1;
    if (line.empty()) {
      if (out.lines.empty()) continue;  // unreachable: leading empty lines skipped
      out.consumed = pos;
      return true;
    }
    if (line.find('\r') != std::string_view::npos) {
      r.status = Status::invalid;
      r.error = "bare CR in head";
      return false;
    }
    out.lines.push_back(line);
  }
}

template <class T>
bool parse_headers(const Lines& lines, Headers& headers, Parsed<T>& r) {
  for (std::size_t i = 1; i < lines.lines.size(); ++i) {
    std::string_view line = lines.lines[i];
    if (line.front() == ' ' || line.front() == '\t') {
      r.status = Status::invalid;
      r.error = "obsolete line folding";
      return false;
    }
    auto colon = line.find(':');
    if (colon == std::string_view::npos || !is_token(line.substr(0, colon))) {
      r.status = Status::invalid;
      r.error = "bad header line";
      return false;
    }
    std::string_view value = trim(line.substr(colon + 1));
    if (!valid_field_value(value)) {
      r.status = Status::invalid;
      r.error = "bad header value";
      return false;
    }
    headers.push_back(Header{std::string(line.substr(0, colon)), std::string(value)});
  }
  return true;
}

bool parse_version(std::string_view v, int& minor) {
  const auto m = http1_minor(v);
  if (m) minor = *m;
  return m.has_value();
}

// Calls f(token) for each comma-separated, trimmed, non-empty element.
template <class F>
void for_each_token(std::string_view v, F&& f) {
  while (!v.empty()) {
    auto comma = v.find(',');
    std::string_view t = trim(v.substr(0, comma));
    if (!t.empty()) f(t);
    if (comma == std::string_view::npos) break;
    v.remove_prefix(comma + 1);
  }
}

// Content-Length headers: all values (also comma lists) must be the same
// decimal number. Returns false when invalid; len unset when absent.
bool content_length(const Headers& h, std::optional<std::uint64_t>& len) {
  bool ok = true;
  for (const auto& hd : h) {
    if (!iequals(hd.name, "Content-Length")) continue;
    if (hd.value.empty()) return false;
    for_each_token(hd.value, [&](std::string_view t) {
      std::uint64_t v = 0;
      if (!std::all_of(t.begin(), t.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
          t.size() > 18) {
        ok = false;
        return;
      }
      std::from_chars(t.data(), t.data() + t.size(), v);
      if (len && *len != v) ok = false;
      len = v;
    });
  }
  return ok;
}

// The last transfer coding named by Transfer-Encoding headers ("" if none).
std::string last_coding(const Headers& h, bool& present) {
  std::string last;
  present = false;
  for (const auto& hd : h) {
    if (!iequals(hd.name, "Transfer-Encoding")) continue;
    present = true;
    for_each_token(hd.value, [&](std::string_view t) { last.assign(t); });
  }
  return last;
}

bool is_hop_by_hop(std::string_view name, const Headers& h) {
  static constexpr std::array<std::string_view, 7> fixed{
      "Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authorization",
      "Proxy-Authenticate", "TE", "Trailer"};
  for (auto f : fixed) {
    if (iequals(name, f)) return true;
  }
  return has_token(h, "Connection", name);
}

void append_header(std::string& out, std::string_view name, std::string_view value) {
  out.append(name).append(": ").append(value).append("\r\n");
}

int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

bool parse_port(std::string_view s, std::uint16_t& port) {
  if (s.empty() || s.size() > 5) return false;
  unsigned v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v == 0 || v > 65535) return false;
  port = static_cast<std::uint16_t>(v);
  return true;
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::optional<std::string_view> find_header(const Headers& h, std::string_view name) {
  for (const auto& hd : h) {
    if (iequals(hd.name, name)) return std::string_view(hd.value);
  }
  return std::nullopt;
}

bool has_token(const Headers& h, std::string_view name, std::string_view token) {
  bool found = false;
  for (const auto& hd : h) {
    if (!iequals(hd.name, name)) continue;
    for_each_token(hd.value, [&](std::string_view t) { found = found || iequals(t, token); });
  }
  return found;
}

std::optional<int> http1_minor(std::string_view version) {
  if (version == "HTTP/1.1") return 1;
  if (version == "HTTP/1.0") return 0;
  return std::nullopt;
}

Parsed<RequestHead> parse_request_head(std::string_view in, std::size_t max_size) {
  Parsed<RequestHead> r;
  Lines lines;
  if (!split_head(in, max_size, lines, r)) return r;
  std::string_view start = lines.lines.front();
  auto sp1 = start.find(' ');
  auto sp2 = sp1 == std::string_view::npos ? sp1 : start.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || start.find(' ', sp2 + 1) != std::string_view::npos) {
    r.status = Status::invalid;
    r.error = "bad request line";
    return r;
  }
  std::string_view method = start.substr(0, sp1);
  std::string_view target = start.substr(sp1 + 1, sp2 - sp1 - 1);
  if (!is_token(method) || target.empty() || !valid_field_value(target) ||
      target.find_first_of(" \t") != std::string_view::npos) {
    r.status = Status::invalid;
    r.error = "bad request line";
    return r;
  }
  if (!parse_version(start.substr(sp2 + 1), r.value.version_minor)) {
    r.status = Status::invalid;
    r.error = "unsupported HTTP version";
    return r;
  }
  r.value.method.assign(method);
  r.value.target.assign(target);
  if (!parse_headers(lines, r.value.headers, r)) return r;
  r.status = Status::ok;
  r.consumed = lines.consumed;
  return r;
}

Parsed<ResponseHead> parse_response_head(std::string_view in, std::size_t max_size) {
  Parsed<ResponseHead> r;
  Lines lines;
  if (!split_head(in, max_size, lines, r)) return r;
  std::string_view start = lines.lines.front();
  auto sp1 = start.find(' ');
  if (sp1 == std::string_view::npos || !parse_version(start.substr(0, sp1), r.value.version_minor)) {
    r.status = Status::invalid;
    r.error = "bad status line";
    return r;
  }
  std::string_view rest = start.substr(sp1 + 1);
  std::string_view code = rest.substr(0, 3);
  if (code.size() != 3 || !std::all_of(code.begin(), code.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      (rest.size() > 3 && rest[3] != ' ')) {
    r.status = Status::invalid;
    r.error = "bad status line";
    return r;
  }
  r.value.status = (code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0');
  if (rest.size() > 4) r.value.reason.assign(rest.substr(4));
  if (!parse_headers(lines, r.value.headers, r)) return r;
  r.status = Status::ok;
  r.consumed = lines.consumed;
  return r;
}

std::optional<Framing> request_framing(const RequestHead& h) {
  bool te = false;
  std::string coding = last_coding(h.headers, te);
  std::optional<std::uint64_t> len;
  if (!content_length(h.headers, len)) return std::nullopt;
  if (te) {
    if (len || !iequals(coding, "chunked")) return std::nullopt;
    return Framing{Framing::chunked, 0};
  }
  if (len && *len > 0) return Framing{Framing::length, *len};
  return Framing{Framing::none, 0};
}

std::optional<Framing> response_framing(const ResponseHead& h, std::string_view request_method) {
  if (iequals(request_method, "HEAD") || (h.status >= 100 && h.status < 200) || h.status == 204 ||
      h.status == 304) {
    return Framing{Framing::none, 0};
  }
  bool te = false;
  std::string coding = last_coding(h.headers, te);
  if (te) {
    return iequals(coding, "chunked") ? Framing{Framing::chunked, 0} : Framing{Framing::until_close, 0};
  }
  std::optional<std::uint64_t> len;
  if (!content_length(h.headers, len)) return std::nullopt;
  if (len) return *len > 0 ? Framing{Framing::length, *len} : Framing{Framing::none, 0};
  return Framing{Framing::until_close, 0};
}

bool wants_keep_alive(const RequestHead& h) {
  if (has_token(h.headers, "Connection", "close") || has_token(h.headers, "Proxy-Connection", "close")) {
    return false;
  }
  if (h.version_minor >= 1) return true;
  return has_token(h.headers, "Connection", "keep-alive") ||
         has_token(h.headers, "Proxy-Connection", "keep-alive");
}

bool is_upgrade(const RequestHead& h) {
  return has_token(h.headers, "Connection", "upgrade") && find_header(h.headers, "Upgrade").has_value();
}

std::optional<net::Address> parse_authority(std::string_view a, std::optional<std::uint16_t> default_port) {
  net::Address out;
  std::string_view port_text;
  if (a.empty()) return std::nullopt;
  if (a.front() == '[') {
    auto close = a.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    out.host.assign(a.substr(1, close - 1));
    auto ip = out.ip();
    if (!ip || !ip->is_v6()) return std::nullopt;
    std::string_view rest = a.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return std::nullopt;
      port_text = rest.substr(1);
      if (port_text.empty()) return std::nullopt;
    }
  } else {
    auto colon = a.rfind(':');
    if (colon != std::string_view::npos) {
      if (a.find(':') != colon) return std::nullopt;  // bare IPv6 without brackets
      port_text = a.substr(colon + 1);
      if (port_text.empty()) return std::nullopt;
      a = a.substr(0, colon);
    }
    if (a.empty()) return std::nullopt;
    for (char c : a) {
      auto u = static_cast<unsigned char>(c);
      if (u <= 0x20 || u == 0x7F || c == '/' || c == '@' || c == '?' || c == '#' || c == '[' ||
          c == ']' || c == '\\') {
        return std::nullopt;
      }
    }
    if (a.size() > 255) return std::nullopt;
    out.host.assign(a);
  }
  if (!port_text.empty()) {
    if (!parse_port(port_text, out.port)) return std::nullopt;
  } else if (default_port) {
    out.port = *default_port;
  } else {
    return std::nullopt;
  }
  return out;
}

std::optional<AbsoluteUri> parse_absolute_uri(std::string_view target) {
  constexpr std::string_view scheme = "http://";
  if (target.size() < scheme.size() || !iequals(target.substr(0, scheme.size()), scheme)) {
    return std::nullopt;
  }
  std::string_view rest = target.substr(scheme.size());
  auto end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end);
  if (authority.find('@') != std::string_view::npos) return std::nullopt;
  auto dest = parse_authority(authority, std::uint16_t{80});
  if (!dest) return std::nullopt;
  AbsoluteUri uri;
  uri.destination = std::move(*dest);
  uri.authority.assign(authority);
  std::string_view path = end == std::string_view::npos ? std::string_view{} : rest.substr(end);
  if (auto hash = path.find('#'); hash != std::string_view::npos) path = path.substr(0, hash);
  if (path.empty() || path.front() != '/') uri.origin.push_back('/');  // (not = "/": GCC 12 -O3 false warning)
  uri.origin.append(path);
  return uri;
}

std::string forward_request_head(const RequestHead& h, const AbsoluteUri& uri) {
  std::string out;
  out.reserve(256);
  out.append(h.method).append(" ").append(uri.origin).append(h.version_minor == 0 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n");
  append_header(out, "Host", uri.authority);
  bool upgrade = is_upgrade(h);
  for (const auto& hd : h.headers) {
    if (iequals(hd.name, "Host")) continue;
    if (upgrade && iequals(hd.name, "Upgrade")) {
      append_header(out, hd.name, hd.value);
      continue;
    }
    if (is_hop_by_hop(hd.name, h.headers)) continue;
    append_header(out, hd.name, hd.value);
  }
  append_header(out, "Connection", upgrade ? "Upgrade" : "close");
  out.append("\r\n");
  return out;
}

std::string forward_response_head(const ResponseHead& h, bool keep_alive, int client_minor) {
  anytls::http::Response out;
  out.status = h.status;
  out.reason = h.reason;  // none sent: the standard phrase
  bool upgrade = h.status == 101;
  for (const auto& hd : h.headers) {
    if (upgrade && iequals(hd.name, "Upgrade")) {
      out.fields.push_back({hd.name, hd.value});
      continue;
    }
    if (is_hop_by_hop(hd.name, h.headers)) continue;
    out.fields.push_back({hd.name, hd.value});
  }
  if (upgrade) {
    out.fields.push_back({"Connection", "Upgrade"});
  } else if (!keep_alive) {
    out.close = true;
  } else if (client_minor == 0) {
    out.fields.push_back({"Connection", "keep-alive"});
  }
  return anytls::http::serialize_head(out);
}

std::string simple_response(int status, std::string_view reason, bool close, std::string_view extra_headers,
                            std::string_view body) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " ";
  out.append(reason).append("\r\n");
  out.append(extra_headers);
  if (close) out.append("Connection: close\r\n");
  out.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n\r\n");
  out.append(body);
  return out;
}

std::optional<std::string> base64_decode(std::string_view in) {
  while (!in.empty() && in.back() == '=') in.remove_suffix(1);
  if (in.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(in.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = b64_value(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return out;
}

std::optional<Credentials> proxy_credentials(const Headers& h) {
  auto v = find_header(h, "Proxy-Authorization");
  if (!v) return std::nullopt;
  std::string_view s = *v;
  auto sp = s.find(' ');
  if (sp == std::string_view::npos || !iequals(s.substr(0, sp), "Basic")) return std::nullopt;
  auto decoded = base64_decode(trim(s.substr(sp + 1)));
  if (!decoded) return std::nullopt;
  auto colon = decoded->find(':');
  if (colon == std::string::npos) return std::nullopt;
  return Credentials{decoded->substr(0, colon), decoded->substr(colon + 1)};
}

// ---- ChunkedTracker ---------------------------------------------------------

void ChunkedTracker::end_size_line() {
  if (size_ == 0) {
    state_ = State::trailer_start;
  } else {
    remaining_ = size_;
    state_ = State::data;
  }
  size_ = 0;
  digits_ = 0;
  ext_len_ = 0;
}

std::size_t ChunkedTracker::feed(std::string_view in) {
  std::size_t i = 0;
  while (i < in.size() && state_ != State::done && state_ != State::error) {
    char c = in[i];
    switch (state_) {
      case State::size: {
        int v = -1;
        if (c >= '0' && c <= '9') v = c - '0';
        else if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
        if (v >= 0) {
          if (digits_ >= 15) {  // sizes beyond 2^60 are nonsense
            state_ = State::error;
            break;
          }
          size_ = size_ * 16 + static_cast<std::uint64_t>(v);
          ++digits_;
          ++i;
        } else if (digits_ == 0) {
          state_ = State::error;
        } else if (c == ';' || c == ' ' || c == '\t') {
          state_ = State::ext;
          ++i;
        } else if (c == '\r') {
          state_ = State::size_lf;
          ++i;
        } else if (c == '\n') {
          ++i;
          end_size_line();
        } else {
          state_ = State::error;
        }
        break;
      }
      case State::ext:
        ++i;
        if (c == '\r') {
          state_ = State::size_lf;
        } else if (c == '\n') {
          end_size_line();
        } else if (++ext_len_ > kMaxExtension) {
          state_ = State::error;
        }
        break;
      case State::size_lf:
        if (c != '\n') {
          state_ = State::error;
          break;
        }
        ++i;
        end_size_line();
        break;
      case State::data: {
        std::uint64_t take = std::min<std::uint64_t>(in.size() - i, remaining_);
        i += static_cast<std::size_t>(take);
        remaining_ -= take;
        if (remaining_ == 0) state_ = State::data_cr;
        break;
      }
      case State::data_cr:
        if (c == '\r') {
          state_ = State::data_lf;
        } else if (c == '\n') {
          state_ = State::size;
        } else {
          state_ = State::error;
          break;
        }
        ++i;
        break;
      case State::data_lf:
        if (c != '\n') {
          state_ = State::error;
          break;
        }
        ++i;
        state_ = State::size;
        break;
      case State::trailer_start:
        if (c == '\r') {
          state_ = State::final_lf;
          ++i;
        } else if (c == '\n') {
          state_ = State::done;
          ++i;
        } else {
          state_ = State::trailer_line;
        }
        break;
      case State::trailer_line:
        ++i;
        if (++trailer_len_ > kMaxTrailers) {
          state_ = State::error;
        } else if (c == '\n') {
          state_ = State::trailer_start;
        }
        break;
      case State::final_lf:
        if (c != '\n') {
          state_ = State::error;
          break;
        }
        ++i;
        state_ = State::done;
        break;
      case State::done:
      case State::error:
        break;
    }
  }
  return i;
}

}  // namespace anytls::http::proxy
