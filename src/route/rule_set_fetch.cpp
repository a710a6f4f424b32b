#include "route/rule_set_fetch.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <asio/buffer.hpp>
#include <spdlog/spdlog.h>

#include "net/coro.hpp"
#include "tls/conn_tls.hpp"
#include "tls/context.hpp"

namespace anytls::route {

namespace {

net::Error http_error(const std::string& url, const std::string& why) {
  return net::Error{std::make_error_code(std::errc::protocol_error), "GET " + url + ": " + why};
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Decodes a chunked body; false when malformed or truncated.
bool dechunk(std::string_view in, std::string& out) {
  while (true) {
    auto eol = in.find("\r\n");
    if (eol == std::string_view::npos) return false;
    std::size_t size = 0;
    std::size_t i = 0;
    for (; i < eol && std::isxdigit(static_cast<unsigned char>(in[i])); ++i) {
      if (size > (std::size_t{1} << 40)) return false;
      size = size * 16 + static_cast<std::size_t>(std::stoi(std::string(1, in[i]), nullptr, 16));
    }
    if (i == 0) return false;
    in.remove_prefix(eol + 2);
    if (size == 0) return true;
    if (in.size() < size + 2) return false;
    out.append(in.substr(0, size));
    in.remove_prefix(size + 2);
  }
}

}  // namespace

asio::awaitable<net::Result<std::string>> http_get(outbound::Outbound& via, std::string url, std::size_t max_bytes) {
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

  outbound::Metadata md;
  md.inbound = "rule-set";
  md.inbound_type = "rule-set";
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
  std::array<char, 16384> buf;
  while (true) {
    auto [ec, n] = co_await conn->read_some(asio::buffer(buf));
    in.append(buf.data(), n);
    if (in.size() > max_bytes + 65536) co_return http_error(url, "response over " + std::to_string(max_bytes) + " bytes");
    if (ec) break;  // the close ends the response (Connection: close)
  }
  conn->close();
  auto head_end = in.find("\r\n\r\n");
  if (head_end == std::string::npos) co_return http_error(url, "no complete response");
  std::string_view head(in.data(), head_end);
  auto line_end = head.find("\r\n");
  std::string_view status_line = head.substr(0, line_end);
  if (status_line.rfind("HTTP/1.", 0) != 0 || status_line.size() < 12)
    co_return http_error(url, "not an HTTP response");
  if (status_line.substr(9, 3) != "200") co_return http_error(url, "status " + std::string(status_line.substr(9)));
  bool chunked = false;
  std::optional<std::size_t> length;
  std::string_view headers = line_end == std::string_view::npos ? std::string_view() : head.substr(line_end + 2);
  while (!headers.empty()) {
    auto e = headers.find("\r\n");
    std::string_view h = headers.substr(0, e);
    headers = e == std::string_view::npos ? std::string_view() : headers.substr(e + 2);
    auto c = h.find(':');
    if (c == std::string_view::npos) continue;
    std::string name = lower(h.substr(0, c));
    std::string value = lower(h.substr(c + 1));
    if (name == "transfer-encoding" && value.find("chunked") != std::string::npos) chunked = true;
    if (name == "content-length") length = std::strtoull(value.c_str(), nullptr, 10);
  }
  std::string_view body(in.data() + head_end + 4, in.size() - head_end - 4);
  std::string out;
  if (chunked) {
    if (!dechunk(body, out)) co_return http_error(url, "bad chunked body");
  } else if (length) {
    if (body.size() < *length) co_return http_error(url, "body shorter than its Content-Length");
    out.assign(body.substr(0, *length));
  } else {
    out.assign(body);
  }
  if (out.size() > max_bytes) co_return http_error(url, "response over " + std::to_string(max_bytes) + " bytes");
  co_return out;
}

std::string default_state_dir() {
  if (const char* d = std::getenv("STATE_DIRECTORY"); d && *d) {
    std::string s(d);
    return s.substr(0, s.find(':'));  // systemd may list several
  }
  if (const char* d = std::getenv("XDG_STATE_HOME"); d && *d) return std::string(d) + "/anytls";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.local/state/anytls";
  return "/var/lib/anytls";
}

RuleSetUpdater::RuleSetUpdater(asio::io_context& io, std::shared_ptr<RuleSets> sets, std::vector<Remote> remotes,
                               std::string cache_dir)
    : sets_(std::move(sets)), remotes_(std::move(remotes)), cache_dir_(std::move(cache_dir)),
      tasks_(io.get_executor(), "rule-set updates") {}

void RuleSetUpdater::start() {
  for (std::size_t i = 0; i < remotes_.size(); ++i) tasks_.spawn(run(i), "rule-set[" + remotes_[i].options.tag + "]");
}

void RuleSetUpdater::stop() { tasks_.cancel(); }

asio::awaitable<void> RuleSetUpdater::join() { co_await tasks_.join(); }

namespace {
// A rule set is a list of names and prefixes: 64 MiB is far beyond any real one.
constexpr std::size_t kMaxRuleSetBytes = 64u << 20;
}  // namespace

asio::awaitable<void> RuleSetUpdater::run(std::size_t i) {
  const auto& o = remotes_[i].options;
  RuleSet* set = sets_->find(o.tag);
  if (set == nullptr || remotes_[i].via == nullptr) co_return;
  const std::string file = RuleSets::cache_path(cache_dir_, o);
  const auto interval = std::chrono::duration_cast<net::Clock::duration>(o.update_interval);
  // A cached copy younger than update_interval is used until it is that old.
  net::Clock::duration wait{0};
  std::error_code fec;
  auto mtime = std::filesystem::last_write_time(file, fec);
  if (!fec && set->size() > 0) {
    auto age = std::filesystem::file_time_type::clock::now() - mtime;
    auto left = std::chrono::duration_cast<net::Clock::duration>(o.update_interval) -
                std::chrono::duration_cast<net::Clock::duration>(age);
    if (left > net::Clock::duration::zero()) wait = left;
  }
  while (true) {
    // (Named awaitables: GCC 12 and temporaries in a co_await.)
    auto sleeping = net::sleep_for(wait);
    bool waited = co_await std::move(sleeping);
    if (!waited) co_return;
    wait = interval;
    std::string url = o.url;
    auto fetching = http_get(*remotes_[i].via, std::move(url), kMaxRuleSetBytes);
    auto got = co_await std::move(fetching);
    bool stopping = co_await net::cancelled();
    if (stopping) co_return;
    if (!got) {
      spdlog::warn("rule-set[{}]: {}", o.tag, got.error().text());
      // Retry sooner than a whole interval after a failure.
      wait = std::min(interval, std::chrono::duration_cast<net::Clock::duration>(std::chrono::minutes(5)));
      continue;
    }
    try {
      set->replace(parse_rule_set(*got, o.format, "rule-set[" + o.tag + "] (" + o.url + ")", o.tag, sets_->budget()));
    } catch (const std::invalid_argument& e) {
      spdlog::warn("{}", e.what());
      continue;
    }
    spdlog::info("rule-set[{}]: updated from {} ({} bytes, {} rules)", o.tag, o.url, got->size(), set->size());
    // Kept on disk: written aside and renamed, so a reader never sees half a file.
    std::error_code ec;
    std::filesystem::create_directories(cache_dir_, ec);
    const std::string tmp = file + ".tmp";
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      out.write(got->data(), static_cast<std::streamsize>(got->size()));
      if (!out) ec = std::make_error_code(std::errc::io_error);
    }
    if (!ec) std::filesystem::rename(tmp, file, ec);
    if (ec) spdlog::warn("rule-set[{}]: cannot keep a copy in {}: {}", o.tag, file, ec.message());
  }
}

}  // namespace anytls::route
