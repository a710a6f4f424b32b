// experimental.clash_api: the endpoints, in the shapes Clash dashboards
// (yacd, metacubexd, zashboard) and GUIs read, over the running box. The
// transport (HTTP, WebSocket, streaming) is app/clash_server.hpp on
// http/server.hpp; here a request becomes a response, and the streamed
// endpoints' samples are rendered.
#pragma once
#include <cstdint>
#include <functional>
#include <set>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <asio/awaitable.hpp>

#include "app/cache_file.hpp"
#include "app/log_buffer.hpp"
#include "app/reload.hpp"
#include "config/options.hpp"
#include "http/request_head.hpp"
#include "inbound/tracker.hpp"

namespace anytls::app {

struct ClashResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  // JSON unless a header says otherwise
};

// What the API reads and changes. Pointers must outlive the API; cache and
// logs may be null.
struct ClashSources {
  Components* parts = nullptr;
  inbound::ConnectionTracker* tracker = nullptr;
  CacheFile* cache = nullptr;
  LogBuffer* logs = nullptr;
};

// A request target split up: "/proxies/a%20b/delay?url=x" ->
// {"proxies", "a b", "delay"} and {"url": "x"}.
struct Target {
  std::vector<std::string> segments;  // percent-decoded
  std::map<std::string, std::string, std::less<>> query;
  std::string path;  // raw path, without the query
  bool valid = true;
};
Target parse_target(std::string_view target);
// A GET that upgrades to a WebSocket on one of the streamed endpoints
// (/traffic, /memory, /logs, /connections).
bool is_stream_upgrade(const http::RequestHead& req, const Target& t);

// The mode names a dashboard may choose: Clash's three (Rule, Global,
// Direct), every clash_mode a route rule names, and default_mode.
std::vector<std::string> clash_modes(const config::Options& options);
std::vector<std::string> clash_modes(const std::vector<config::RouteRule>& rules, const std::string& default_mode);

class ClashApi {
 public:
  ClashApi(config::ClashApiOptions options, ClashSources sources);

  const config::ClashApiOptions& options() const { return options_; }
  // Whether the request may proceed: no secret, "Authorization: Bearer
  // <secret>", or (stream WebSocket upgrades only, as browsers cannot set
  // headers there) "?token=<secret>". Compared in constant time.
  bool authorised(const http::RequestHead& req, const Target& t) const;
  // The non-streaming endpoints.
  asio::awaitable<ClashResponse> handle(const http::RequestHead& req, const Target& t, const std::string& body);

  // Samples of the streamed endpoints (one JSON object each).
  std::string traffic_sample(std::uint64_t up_per_s, std::uint64_t down_per_s) const;
  std::string memory_sample() const;
  std::string connections_json() const;
  std::string log_json(const LogLine& line) const;
  std::uint64_t total_upload() const;
  std::uint64_t total_download() const;
  LogBuffer* logs() const { return sources_.logs; }

  // The mode names /configs offers: Rule, Global, Direct and any clash_mode
  // a route rule names. Without components (tests) those set here; with
  // them, from the route rules in use (a reload may add modes).
  void set_modes(std::vector<std::string> modes) { modes_ = std::move(modes); }
  // What PUT /configs runs: reads and applies the configuration file as
  // SIGHUP does; "" when applied, else why not. Unset: no file to reload.
  using Reload = std::function<std::string()>;
  void set_reload(Reload reload) { reload_ = std::move(reload); }

 private:
  std::string proxies_json() const;
  std::string proxy_json(const outbound::Outbound& out) const;
  std::string global_json() const;
  std::vector<std::string> modes() const;
  std::string configs_json() const;
  std::string rules_json() const;
  ClashResponse proxy_response(const std::string& name) const;
  ClashResponse groups() const;
  ClashResponse group_response(const std::string& name) const;
  ClashResponse select(const std::string& name, const std::string& body);
  ClashResponse patch_configs(const std::string& body);
  ClashResponse put_configs(const std::string& body);
  ClashResponse flush_dns();
  ClashResponse flush_fakeip();
  asio::awaitable<ClashResponse> dns_query(const Target& t);
  asio::awaitable<ClashResponse> delay(const std::string& name, const Target& t);
  asio::awaitable<ClashResponse> group_delay(const std::string& name, const Target& t);
  // The members /group/{name}/delay tests (GLOBAL: every outbound).
  std::vector<outbound::Outbound*> members_of(const std::string& name) const;
  // Where a delay through `out` is recorded and read: the member a group
  // uses now, followed down to a leaf (sing-box keeps it under the group's
  // real tag, so a group shows its selected member's delay).
  const outbound::Outbound& leaf_of(const outbound::Outbound& out) const;
  void record_delay(const outbound::Outbound& out, std::optional<std::uint16_t> ms);

  config::ClashApiOptions options_;
  ClashSources sources_;
  std::vector<std::string> modes_;
  Reload reload_;
  // Last successful delay test per outbound tag (the "history" dashboards
  // draw): time and ms. A failed test removes it, as sing-box does, and
  // marks the outbound not alive (mihomo's "alive": metacubexd counts it).
  std::map<std::string, std::pair<std::string, std::uint16_t>, std::less<>> history_;
  std::set<std::string, std::less<>> failed_;
};

}  // namespace anytls::app
