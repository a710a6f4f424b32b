#include "outbound/http_get.hpp"

#include <array>
#include <cstdlib>
#include <optional>

#include <asio/buffer.hpp>
#include <asio/experimental/awaitable_operators.hpp>

#include "net/coro.hpp"
#include "tls/conn_tls.hpp"
#include "tls/context.hpp"

namespace anytls::outbound {

namespace {

net::Error http_error(const std::string& url, const std::string& why) {
  return net::Error{std::make_error_code(std::errc::protocol_error), "GET " + url + ": " + why};
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

enum class Chunks { more, done, bad };

// Decodes what has arrived of a chunked body, going on from `pos` (where
// the last call stopped) and appending to `out`: done once the last chunk
// is in (trailers are not waited for), more when it needs more bytes.
Chunks dechunk(std::string_view in, std::size_t& pos, std::string& out, std::size_t max_bytes) {
  while (true) {
    std::string_view rest = in.substr(pos);
    auto eol = rest.find("\r\n");
    if (eol == std::string_view::npos) return rest.size() > 1024 ? Chunks::bad : Chunks::more;
    std::size_t size = 0, i = 0;
    for (; i < eol && hex_digit(rest[i]) >= 0; ++i) {
      size = size * 16 + static_cast<std::size_t>(hex_digit(rest[i]));
      if (size > max_bytes) return Chunks::bad;
    }
    if (i == 0) return Chunks::bad;
    if (size == 0) return Chunks::done;
    if (rest.size() < eol + 2 + size + 2) return Chunks::more;
    if (rest.substr(eol + 2 + size, 2) != "\r\n") return Chunks::bad;
    out.append(rest.substr(eol + 2, size));
    if (out.size() > max_bytes) return Chunks::bad;
    pos += eol + 2 + size + 2;
  }
}

// What the response head says.
struct Head {
  std::size_t size = 0;  // bytes up to the end of the blank line
  bool chunked = false;
  std::optional<std::size_t> length;
  std::string location;  // of a redirect that is to be followed
};

bool is_redirect(std::string_view status) {
  return status == "301" || status == "302" || status == "303" || status == "307" || status == "308";
}

// The head of `in`, once complete; an error when it is not a 200 we can read.
// follow: a redirect is not an error (its Location is kept).
std::optional<net::Result<Head>> parse_head(std::string_view in, const std::string& url, std::size_t max_bytes,
                                            bool any_status, bool follow) {
  auto end = in.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    if (in.size() > 65536) return net::Result<Head>(http_error(url, "response head over 64 KiB"));
    return std::nullopt;
  }
  Head h;
  h.size = end + 4;
  std::string_view head = in.substr(0, end);
  auto line_end = head.find("\r\n");
  std::string_view status_line = head.substr(0, line_end);
  if (status_line.rfind("HTTP/1.", 0) != 0 || status_line.size() < 12)
    return net::Result<Head>(http_error(url, "not an HTTP response"));
  const bool redirect = follow && is_redirect(status_line.substr(9, 3));
  if (!any_status && !redirect && status_line.substr(9, 3) != "200")
    return net::Result<Head>(http_error(url, "status " + std::string(status_line.substr(9))));
  std::string_view headers = line_end == std::string_view::npos ? std::string_view() : head.substr(line_end + 2);
  while (!headers.empty()) {
    auto e = headers.find("\r\n");
    std::string_view line = headers.substr(0, e);
    headers = e == std::string_view::npos ? std::string_view() : headers.substr(e + 2);
    auto c = line.find(':');
    if (c == std::string_view::npos) continue;
    std::string name = lower(line.substr(0, c));
    std::string raw(line.substr(c + 1));
    while (!raw.empty() && (raw.front() == ' ' || raw.front() == '\t')) raw.erase(0, 1);
    while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\t')) raw.pop_back();
    const std::string value = lower(raw);
    if (redirect && name == "location") h.location = raw;
    if (name == "transfer-encoding" && value.find("chunked") != std::string::npos) h.chunked = true;
    if (name == "content-length") {
      std::size_t n = 0;
      bool ok = !value.empty() && value.size() <= 19;
      for (char ch : value) {
        if (ch < '0' || ch > '9') ok = false;
        else n = n * 10 + static_cast<std::size_t>(ch - '0');
      }
      if (!ok) return net::Result<Head>(http_error(url, "bad Content-Length"));
      if (n > max_bytes)
        return net::Result<Head>(
            http_error(url, "response over " + std::to_string(max_bytes) + " bytes (Content-Length " + value + ")"));
      h.length = n;
    }
  }
  if (redirect && h.location.empty()) return net::Result<Head>(http_error(url, "redirect without a Location"));
  return net::Result<Head>(h);
}

// Where a Location header points, from the URL that answered with it.
std::string resolve_location(const std::string& base, const std::string& location) {
  if (location.rfind("http://", 0) == 0 || location.rfind("https://", 0) == 0) return location;
  const std::size_t scheme_end = base.find("://");
  if (location.rfind("//", 0) == 0) return base.substr(0, scheme_end + 1) + location;
  const std::size_t path_start = base.find('/', scheme_end + 3);
  const std::string origin = base.substr(0, path_start);
  if (!location.empty() && location.front() == '/') return origin + location;
  const std::size_t dir_end = path_start == std::string::npos ? std::string::npos : base.rfind('/');
  return (dir_end == std::string::npos ? origin + "/" : base.substr(0, dir_end + 1)) + location;
}

// The exchange itself, without a deadline (http_get adds it): dial, TLS,
// request, then read until the body is complete: Content-Length bytes, the
// last chunk, or the close when the response has neither. redirect_to:
// non-null to follow a redirect, which then fills it (and the body is "").
asio::awaitable<net::Result<std::string>> fetch(Outbound& via, std::string url, std::size_t max_bytes, HttpLimits limits,
                                                std::string* redirect_to) {
  const bool https = url.rfind("https://", 0) == 0;
  if (!https && url.rfind("http://", 0) != 0) co_return http_error(url, "only http:// and https:// URLs can be fetched");
  std::string_view rest = std::string_view(url).substr(https ? 8 : 7);
  auto slash = rest.find('/');
  std::string authority(rest.substr(0, slash));
  std::string path = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  std::string host = authority;
  std::uint16_t port = https ? 443 : 80;
  auto colon = authority.rfind(':');
  if (colon != std::string::npos && authority.find(']', colon) == std::string::npos) {
    host = authority.substr(0, colon);
    unsigned long p = std::strtoul(authority.c_str() + colon + 1, nullptr, 10);
    if (p == 0 || p > 65535) co_return http_error(url, "bad port");
    port = static_cast<std::uint16_t>(p);
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty()) co_return http_error(url, "no host");

  Metadata md;
  md.inbound = limits.who;
  md.inbound_type = limits.who;
  md.destination = net::Address{host, port};
  auto dialed = co_await via.dial(md);
  if (!dialed) co_return http_error(url, dialed.error().text());
  auto conn = std::move(*dialed);
  if (https) {
    // TLS over the outbound's stream, verified against the system store
    // for the URL's host (sing-box has no TLS options for rule sets either).
    config::OutboundTlsOptions tls_opts;
    tls_opts.enabled = true;
    tls_opts.server_name = host;
    auto ctx = tls::ClientContext::create(tls_opts, host);
    if (!ctx) co_return http_error(url, ctx.error().text());
    auto secured = co_await tls::client_handshake_over(*ctx, std::move(conn), authority, std::chrono::seconds(10), nullptr);
    if (!secured) co_return http_error(url, secured.error().text());
    conn = std::move(*secured);
  }
  const std::string request = "GET " + path + " HTTP/1.1\r\nHost: " + authority +
                              "\r\nUser-Agent: anytls-cpp\r\nAccept-Encoding: identity\r\nConnection: close\r\n\r\n";
  auto wrote = co_await conn->write(asio::buffer(request));
  if (wrote) co_return http_error(url, wrote.message());
  std::string in;
  std::optional<Head> head;
  std::string chunks;        // a chunked body, decoded
  std::size_t chunk_pos = 0;  // how far into the body dechunk() has come
  std::array<char, 16384> buf;
  while (true) {
    auto [ec, n] = co_await conn->read_some(asio::buffer(buf));
    in.append(buf.data(), n);
    if (!head) {
      auto parsed = parse_head(in, url, max_bytes, limits.any_status, redirect_to != nullptr);
      if (parsed && !*parsed) co_return parsed->error();
      if (parsed) head = **parsed;
    }
    if (head && !head->location.empty()) break;  // the body of a redirect is not read
    if (head) {
      std::string_view body = std::string_view(in).substr(head->size);
      if (head->chunked) {
        const Chunks state = dechunk(body, chunk_pos, chunks, max_bytes);
        if (state == Chunks::bad) co_return http_error(url, "bad chunked body");
        if (state == Chunks::done) break;
      } else if (head->length && body.size() >= *head->length) {
        break;  // what follows Content-Length is not ours to read
      }
    }
    if (in.size() > max_bytes + 65536) co_return http_error(url, "response over " + std::to_string(max_bytes) + " bytes");
    if (ec == asio::error::eof) {  // TlsConn reports a close without close_notify so too
      if (!head) co_return http_error(url, "no complete response");
      if (head->chunked) co_return http_error(url, "bad chunked body (closed before the last chunk)");
      if (head->length) co_return http_error(url, "body shorter than its Content-Length");
      break;  // the close ends a response with neither (Connection: close)
    }
    if (ec) co_return http_error(url, ec.message());
  }
  conn->close();
  if (!head->location.empty()) {
    *redirect_to = head->location;
    co_return std::string();
  }
  std::string out;
  if (head->chunked) {
    out = std::move(chunks);
  } else {
    out = in.substr(head->size, head->length.value_or(std::string::npos));
  }
  if (out.size() > max_bytes) co_return http_error(url, "response over " + std::to_string(max_bytes) + " bytes");
  co_return out;
}

// fetch(), following up to limits.redirects redirects (as Go's client,
// which sing-box downloads with, does).
asio::awaitable<net::Result<std::string>> fetch_following(Outbound* via, std::string url, std::size_t max_bytes,
                                                          HttpLimits limits) {
  std::string next;
  net::Result<std::string> got = http_error(url, "no request made");
  for (int hop = 0; hop <= limits.redirects; ++hop) {
    next.clear();
    auto fetching = fetch(*via, url, max_bytes, limits, hop < limits.redirects ? &next : nullptr);
    got = co_await std::move(fetching);
    if (!got || next.empty()) break;
    url = resolve_location(url, next);
  }
  co_return got;
}

}  // namespace

asio::awaitable<net::Result<std::string>> http_get(Outbound& via, std::string url, std::size_t max_bytes,
                                                  HttpLimits limits) {
  using namespace asio::experimental::awaitable_operators;
  const auto deadline = net::clock_or_system(limits.clock).now() + limits.timeout;
  std::string what = url;
  auto fetching = fetch_following(&via, std::move(url), max_bytes, limits);
  auto expiring = net::sleep_until(deadline, limits.clock);
  auto r = co_await (std::move(fetching) || std::move(expiring));
  if (r.index() == 1) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(limits.timeout).count();
    co_return http_error(what, "no complete response within " +
                                   (ms % 1000 ? std::to_string(ms) + " ms" : std::to_string(ms / 1000) + " s"));
  }
  co_return std::move(std::get<0>(r));
}

asio::awaitable<net::Result<std::string>> http_get(Outbound& via, std::string url, std::size_t max_bytes) {
  return http_get(via, std::move(url), max_bytes, HttpLimits{});
}

}  // namespace anytls::outbound
