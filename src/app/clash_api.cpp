#include "app/clash_api.hpp"

#include <algorithm>
#include <chrono>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "app/clash_dns.hpp"
#include "app/metrics_server.hpp"
#include "dns/client.hpp"
#include "metrics/process.hpp"
#include "outbound/anytls.hpp"
#include "outbound/group.hpp"
#include "outbound/selector.hpp"
#include "outbound/url_probe.hpp"
#include "outbound/urltest.hpp"
#include "route/clash_mode.hpp"
#include "route/rule_text.hpp"

namespace anytls::app {

using json = nlohmann::ordered_json;

namespace {

// Destination names come from peers (a SOCKS5 domain may hold any byte but
// NUL): bytes that are not UTF-8 become U+FFFD instead of failing the dump
// (which ended the response, or the /connections WebSocket, mid-way).
std::string dump_text(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// nullopt on a bad escape.
std::optional<std::string> percent_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      int a = hex(s[i + 1]);
      int b = hex(s[i + 2]);
      if (a < 0 || b < 0) return std::nullopt;
      out.push_back(static_cast<char>(a * 16 + b));
      i += 2;
    } else if (s[i] == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::string rfc3339(std::chrono::system_clock::time_point t) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count() % 1000;
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03d}Z", fmt::gmtime(std::chrono::system_clock::to_time_t(t)),
                     static_cast<int>(ms));
}

ClashResponse json_response(int status, const json& body) {
  ClashResponse r;
  r.status = status;
  r.body = dump_text(body);
  return r;
}

ClashResponse message(int status, std::string text) { return json_response(status, json{{"message", std::move(text)}}); }

ClashResponse no_content() {
  ClashResponse r;
  r.status = 204;
  return r;
}

std::string display_type(std::string_view type) {
  if (type == "anytls") return "AnyTLS";
  if (type == "direct") return "Direct";
  if (type == "block") return "Reject";
  if (type == "selector") return "Selector";
  if (type == "urltest") return "URLTest";
  return std::string(type);
}

std::string_view state_name(outbound::PoolPolicy::State s) {
  switch (s) {
    case outbound::PoolPolicy::State::idle: return "idle";
    case outbound::PoolPolicy::State::busy: return "busy";
    case outbound::PoolPolicy::State::dialing: return "dialing";
  }
  return "?";
}

// The anytls pool as a dashboard user sees it: sessions by state and age.
json pool_json(const outbound::AnyTlsOutbound& a) {
  auto now = std::chrono::steady_clock::now();
  json sessions = json::array();
  decltype(std::declval<const outbound::PoolPolicy&>().stats()) s{};
  a.inspect_policy([&](const outbound::PoolPolicy& policy) {
    s = policy.stats();
    for (const auto& [seq, info] : policy.sessions()) {
      json e{{"seq", seq}, {"state", state_name(info.state)}};
      if (info.state != outbound::PoolPolicy::State::dialing)
        e["age_seconds"] = std::chrono::duration<double>(now - info.created_at).count();
      if (info.state == outbound::PoolPolicy::State::idle)
        e["idle_seconds"] = std::chrono::duration<double>(now - info.idle_since).count();
      sessions.push_back(std::move(e));
    }
  });
  auto st = a.stats();
  return json{{"idle", s.idle},
              {"busy", s.busy},
              {"dialing", s.dialing},
              {"sessions_created", st.sessions_created},
              {"streams", st.streams},
              {"sessions", std::move(sessions)}};
}

// What GLOBAL stands for now: the pick, else route.final's outbound.
const std::string& global_now(const Components& parts) {
  return parts.global_choice().empty() ? parts.final_tag() : parts.global_choice();
}

// JSON bodies built with initializer lists, kept out of coroutine bodies
// (docs/architecture.md, GCC 12 rule 5).
ClashResponse hello() { return json_response(200, json{{"hello", "clash"}}); }
// "sing-box" in the version is how zashboard and metacubexd tell sing-box's
// Clash API from mihomo's (whose mihomo-only controls would answer 404
// here); sing-box answers premium and meta true as well.
ClashResponse version() {
  return json_response(200, json{{"version", std::string("anytls-cpp ") + ANYTLS_VERSION + " (sing-box compatible)"},
                                 {"premium", true},
                                 {"meta", true}});
}
ClashResponse delay_response(std::uint16_t ms) { return json_response(200, json{{"delay", ms}}); }
ClashResponse no_providers() { return json_response(200, json{{"providers", json::object()}}); }
ClashResponse groups_response(json groups) { return json_response(200, json{{"proxies", std::move(groups)}}); }
ClashResponse body_response(std::string body) {
  ClashResponse r;
  r.body = std::move(body);
  return r;
}

std::uint16_t parse_timeout(const Target& t) {
  auto it = t.query.find("timeout");
  if (it == t.query.end()) return 5000;
  unsigned v = 0;
  for (char c : it->second) {
    if (c < '0' || c > '9' || v > 60000) return 0;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  return static_cast<std::uint16_t>(std::min(v, 60000u));
}

}  // namespace

std::vector<std::string> clash_modes(const config::Options& options) {
  return clash_modes(options.route.rules,
                     options.clash_api ? options.clash_api->default_mode : std::string());
}

std::vector<std::string> clash_modes(const std::vector<config::RouteRule>& rules, const std::string& default_mode) {
  std::vector<std::string> modes{"Rule", "Global", "Direct"};
  auto lower = [](std::string v) {
    for (auto& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return v;
  };
  auto add = [&](const std::string& m) {
    if (m.empty()) return;
    for (const auto& have : modes)
      if (lower(have) == lower(m)) return;
    modes.push_back(m);
  };
  for (const auto& r : rules) add(r.clash_mode);
  add(default_mode);
  return modes;
}

Target parse_target(std::string_view target) {
  Target t;
  auto q = target.find('?');
  std::string_view path = target.substr(0, q);
  t.path = std::string(path);
  std::size_t pos = 0;
  while (pos < path.size()) {
    if (path[pos] == '/') {
      ++pos;
      continue;
    }
    auto next = path.find('/', pos);
    auto seg = percent_decode(path.substr(pos, next == std::string_view::npos ? std::string_view::npos : next - pos),
                              false);
    if (!seg) t.valid = false;
    else t.segments.push_back(std::move(*seg));
    if (next == std::string_view::npos) break;
    pos = next + 1;
  }
  if (q != std::string_view::npos) {
    std::string_view query = target.substr(q + 1);
    while (!query.empty()) {
      auto amp = query.find('&');
      std::string_view pair = query.substr(0, amp);
      auto eq = pair.find('=');
      auto k = percent_decode(pair.substr(0, eq), true);
      auto v = percent_decode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1), true);
      if (!k || !v) t.valid = false;
      else if (!k->empty()) t.query.emplace(std::move(*k), std::move(*v));
      if (amp == std::string_view::npos) break;
      query.remove_prefix(amp + 1);
    }
  }
  return t;
}

ClashApi::ClashApi(config::ClashApiOptions options, ClashSources sources)
    : options_(std::move(options)), sources_(sources), modes_{"Rule", "Global", "Direct"} {}

bool is_stream_upgrade(const http::RequestHead& req, const Target& t) {
  if (req.method != "GET" || !req.upgrade() ||
      !req.has_token("Upgrade", "websocket") || t.segments.size() != 1)
    return false;
  const auto& s = t.segments[0];
  return s == "traffic" || s == "memory" || s == "logs" || s == "connections";
}

bool ClashApi::authorised(const http::RequestHead& req, const Target& t) const {
  if (options_.secret.empty()) return true;
  if (auto auth = req.field("Authorization"))
    return bearer_matches(*auth, options_.secret);
  // ?token= only where a browser cannot send a header: the WebSocket
  // upgrade of a stream. Anywhere else it would put the secret in URLs and
  // logs for nothing.
  if (is_stream_upgrade(req, t)) {
    auto it = t.query.find("token");
    if (it != t.query.end()) return bearer_matches("Bearer " + it->second, options_.secret);
  }
  return false;
}

// ---- samples ----------------------------------------------------------------

std::uint64_t ClashApi::total_upload() const { return sources_.tracker ? sources_.tracker->total_upload() : 0; }
std::uint64_t ClashApi::total_download() const {
  return sources_.tracker ? sources_.tracker->total_download() : 0;
}

std::string ClashApi::traffic_sample(std::uint64_t up, std::uint64_t down) const {
  return dump_text(json{{"up", up}, {"down", down}});
}

std::string ClashApi::memory_sample() const {
  auto p = metrics::read_process_stats();
  std::uint64_t inuse = p.resident_memory_bytes ? static_cast<std::uint64_t>(*p.resident_memory_bytes) : 0;
  return dump_text(json{{"inuse", inuse}, {"oslimit", 0}});
}

std::string ClashApi::connections_json() const {
  json list = json::array();
  if (sources_.tracker) {
    for (const auto& c : sources_.tracker->connections()) {
      const auto& md = c.metadata;
      auto ip = md.destination.ip();
      auto src = md.source.address();
      json meta{{"network", md.network == outbound::Network::udp ? "udp" : "tcp"},
                {"type", md.inbound_type + "/" + md.inbound},
                {"sourceIP", src.is_unspecified() ? std::string() : src.to_string()},
                {"destinationIP", ip ? ip->to_string() : std::string()},
                {"sourcePort", std::to_string(md.source.port())},
                {"destinationPort", std::to_string(md.destination.port)},
                {"host", ip ? std::string() : md.destination.host},
                {"dnsMode", "normal"},
                {"processPath", ""}};
      if (!md.user.empty()) meta["inboundUser"] = md.user;
      list.push_back(json{{"id", c.id},
                          {"metadata", std::move(meta)},
                          {"upload", c.upload},
                          {"download", c.download},
                          {"start", rfc3339(c.start)},
                          {"chains", c.chains},
                          {"rule", md.rule.empty() ? std::string("final") : md.rule},
                          {"rulePayload", ""}});
    }
  }
  auto p = metrics::read_process_stats();
  return dump_text(json{{"downloadTotal", total_download()},
                        {"uploadTotal", total_upload()},
                        {"connections", std::move(list)},
                        {"memory", p.resident_memory_bytes ? static_cast<std::uint64_t>(*p.resident_memory_bytes) : 0}});
}

std::string ClashApi::log_json(const LogLine& line) const {
  return dump_text(json{{"type", clash_level_name(line.level)}, {"payload", line.text}});
}

// ---- proxies --------------------------------------------------------------------

const outbound::Outbound& ClashApi::leaf_of(const outbound::Outbound& out) const {
  const outbound::Outbound* o = &out;
  // Groups nest; the config refuses loops, the bound is for safety.
  for (int depth = 0; depth < 16; ++depth) {
    const auto* g = dynamic_cast<const outbound::Group*>(o);
    if (!g || !g->now()) break;
    o = g->now();
  }
  return *o;
}

void ClashApi::record_delay(const outbound::Outbound& out, std::optional<std::uint16_t> ms) {
  const std::string& tag = leaf_of(out).tag();
  if (ms) {
    history_[tag] = std::make_pair(rfc3339(std::chrono::system_clock::now()), *ms);
    failed_.erase(tag);
  } else {
    // Nothing stored on failure (a 0 ms entry would be drawn as a delay).
    history_.erase(tag);
    failed_.insert(tag);
  }
}

std::string ClashApi::proxy_json(const outbound::Outbound& out) const {
  const auto& leaf = leaf_of(out);
  const bool alive = failed_.count(leaf.tag()) == 0;
  json p{{"type", display_type(out.type())}, {"name", out.tag()}, {"udp", out.type() != "block"}, {"xudp", false},
         {"alive", alive}};
  json history = json::array();
  if (auto it = history_.find(leaf.tag()); it != history_.end())
    history.push_back(json{{"time", it->second.first}, {"delay", it->second.second}});
  // A urltest's own measurements, when newer ones are not known here.
  if (history.empty() && alive) {
    for (const auto* o : sources_.parts->outbounds()) {
      const auto* u = dynamic_cast<const outbound::UrlTestOutbound*>(o);
      if (!u) continue;
      if (auto d = u->delay_of(&leaf)) {
        history.push_back(json{{"time", rfc3339(std::chrono::system_clock::now())}, {"delay", *d}});
        break;
      }
    }
  }
  p["history"] = std::move(history);
  if (const auto* g = dynamic_cast<const outbound::Group*>(&out)) {
    p["all"] = g->member_tags();
    p["now"] = g->now() ? g->now()->tag() : std::string();
    if (const auto* u = dynamic_cast<const outbound::UrlTestOutbound*>(&out)) p["testUrl"] = u->url();
  }
  if (const auto* a = dynamic_cast<const outbound::AnyTlsOutbound*>(&out)) p["pool"] = pool_json(*a);
  return dump_text(p);
}

// Clash's GLOBAL group: every outbound, "now" the one picked for Global
// mode (Components::select_global), else route.final's. A real selector:
// PUT /proxies/GLOBAL picks, and Global mode then routes through the pick
// (app/reload.hpp, SwitchRouter).
std::string ClashApi::global_json() const {
  const auto& parts = *sources_.parts;
  std::vector<std::string> all;
  for (const auto* o : parts.outbounds()) all.push_back(o->tag());
  const std::string& now = global_now(parts);
  json g{{"type", "Selector"}, {"name", kGlobalGroup}, {"udp", true}, {"xudp", false}, {"alive", true},
         {"history", json::array()}, {"all", all}, {"now", now}};
  if (const auto* n = parts.outbound(now)) {
    auto member = json::parse(proxy_json(*n));
    g["alive"] = member["alive"];
    g["history"] = member["history"];
  }
  return dump_text(g);
}

std::string ClashApi::proxies_json() const {
  json proxies = json::object();
  for (const auto* o : sources_.parts->outbounds()) proxies[o->tag()] = json::parse(proxy_json(*o));
  proxies[std::string(kGlobalGroup)] = json::parse(global_json());
  return dump_text(json{{"proxies", std::move(proxies)}});
}

std::vector<outbound::Outbound*> ClashApi::members_of(const std::string& name) const {
  std::vector<outbound::Outbound*> v;
  if (name == kGlobalGroup) {
    for (const auto* o : sources_.parts->outbounds()) v.push_back(sources_.parts->outbound(o->tag()));
    return v;
  }
  if (auto* g = dynamic_cast<outbound::Group*>(sources_.parts->outbound(name))) v = g->members();
  return v;
}

std::string ClashApi::rules_json() const {
  json rules = json::array();
  if (sources_.parts) {
    for (const auto& r : sources_.parts->route_rules()) {
      auto t = route::describe(r);
      rules.push_back(json{{"type", t.type}, {"payload", t.payload}, {"proxy", t.action}});
    }
  }
  return dump_text(json{{"rules", std::move(rules)}});
}

ClashResponse ClashApi::select(const std::string& name, const std::string& body) {
  const bool global = name == kGlobalGroup;
  auto* out = global ? nullptr : sources_.parts->outbound(name);
  if (!global && !out) return message(404, "Resource not found");
  auto* sel = dynamic_cast<outbound::SelectorOutbound*>(out);
  if (!global && !sel) return message(400, "Must be a Selector");
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("name") || !j["name"].is_string())
    return message(400, "Body invalid");
  const auto member = j["name"].get<std::string>();
  const bool done = global ? sources_.parts->select_global(member) : sel->select(member);
  if (!done) return message(400, "Selector update error: not found");
  if (global) spdlog::info("clash-api: GLOBAL now {} (used in Global mode)", member);
  return no_content();
}

namespace {

// The default logger's level by Clash's name ("silent" when off).
std::string current_log_level() {
  const auto level = spdlog::default_logger()->level();
  return level == spdlog::level::off ? "silent" : std::string(clash_level_name(level));
}

}  // namespace

std::vector<std::string> ClashApi::modes() const {
  // From the rules in use: a reload may name other modes.
  if (sources_.parts) return clash_modes(sources_.parts->route_rules(), options_.default_mode);
  return modes_;
}

std::string ClashApi::configs_json() const {
  // The first running inbound of each kind (0: none); they are set in the
  // configuration file, not here.
  std::uint16_t http = 0, socks = 0, mixed = 0;
  if (sources_.parts) {
    for (const auto& in : sources_.parts->inbound_ports()) {
      std::uint16_t* slot = in.type == "mixed" ? &mixed : in.type == "socks" ? &socks : in.type == "http" ? &http : nullptr;
      if (slot && *slot == 0) *slot = in.port;
    }
  }
  json j{{"port", http},
         {"socks-port", socks},
         {"redir-port", 0},
         {"tproxy-port", 0},
         {"mixed-port", mixed},
         {"allow-lan", false},
         {"bind-address", "*"},
         {"mode", route::clash_mode()},
         {"mode-list", modes()},
         {"modes", modes()},
         {"log-level", current_log_level()},
         {"ipv6", true},
         {"tun", nullptr}};
  return dump_text(j);
}

ClashResponse ClashApi::patch_configs(const std::string& body) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return message(400, "Body invalid");
  // What cannot be changed here (ports, allow-lan, tun, ...) is refused by
  // name rather than answered 204 and ignored, so a dashboard shows that it
  // did not take; nothing of the request is applied then.
  for (const auto& [key, value] : j.items())
    if (key != "mode" && key != "log-level") return message(400, key + ": cannot be changed through the API");
  const auto offered = modes();
  const std::string* mode = nullptr;  // in offered
  if (j.contains("mode")) {
    if (!j["mode"].is_string()) return message(400, "Body invalid");
    std::string want = j["mode"].get<std::string>();
    for (const auto& m : offered) {
      bool same = m.size() == want.size() && std::equal(m.begin(), m.end(), want.begin(), [](char a, char b) {
                    return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
                  });
      if (same) mode = &m;
    }
    if (!mode) return message(400, "unknown mode: " + want);
  }
  std::string level_name;
  if (j.contains("log-level")) {
    static constexpr std::string_view kNames[] = {"debug", "info", "warning", "warn", "error", "silent"};
    const auto& v = j["log-level"];
    if (v.is_string()) level_name = v.get<std::string>();
    if (std::find(std::begin(kNames), std::end(kNames), level_name) == std::end(kNames))
      return message(400, "log-level: one of debug, info, warning, error, silent");
  }
  if (mode && route::clash_mode() != *mode) {
    route::set_clash_mode(*mode);
    spdlog::info("clash-api: switched to {} mode", *mode);
    if (sources_.cache) sources_.cache->save_mode(*mode);
  }
  if (!level_name.empty() && spdlog::default_logger()->level() != clash_log_level(level_name)) {
    spdlog::info("clash-api: log level set to {}", level_name);
    spdlog::default_logger()->set_level(clash_log_level(level_name));
  }
  return no_content();
}

ClashResponse ClashApi::put_configs(const std::string& body) {
  // mihomo's reload: {"path": "", "payload": ""} (zashboard adds
  // ?reload=true, metacubexd ?force=true) names the file in use. Another
  // file, or a configuration sent inline, is not taken.
  if (!body.empty()) {
    json j = json::parse(body, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return message(400, "Body invalid");
    for (const char* key : {"path", "payload"}) {
      if (!j.contains(key)) continue;
      const auto& v = j[key];
      if (!v.is_string() || !v.get<std::string>().empty())
        return message(400, std::string(key) + ": only the configuration file in use can be reloaded");
    }
  }
  if (!reload_) return message(400, "no configuration file to reload from");
  auto why = reload_();
  if (!why.empty()) return message(400, why);
  return no_content();
}

ClashResponse ClashApi::flush_dns() {
  if (sources_.parts)
    if (auto dns = sources_.parts->dns_client()) dns->clear_cache();
  return no_content();
}

// Every fakeip server forgets its names (204 also without one, as sing-box
// answers when fakeip is off).
ClashResponse ClashApi::flush_fakeip() {
  if (sources_.parts)
    if (auto dns = sources_.parts->dns_client()) dns->reset_fakeip();
  return no_content();
}

asio::awaitable<ClashResponse> ClashApi::dns_query(const Target& t) {
  auto dns = sources_.parts ? sources_.parts->dns_client() : nullptr;
  if (!dns) co_return message(503, "no DNS module");
  auto name = t.query.find("name");
  auto type = t.query.find("type");
  std::string why;
  auto wire = dns_query_wire(name == t.query.end() ? std::string_view() : std::string_view(name->second),
                             type == t.query.end() ? std::string_view() : std::string_view(type->second), why);
  if (!wire) co_return message(400, why);
  const std::span<const std::uint8_t> query(*wire);
  const outbound::Metadata md;
  auto answer = co_await dns->exchange(query, md);
  if (!answer) co_return message(500, answer.error().text());
  if (!answer.value()) co_return message(500, "dropped by a DNS rule");
  co_return body_response(dns_answer_json(*answer.value()));
}

asio::awaitable<ClashResponse> ClashApi::delay(const std::string& name, const Target& t) {
  // GLOBAL: through the outbound it stands for now.
  auto* out = sources_.parts->outbound(name == kGlobalGroup ? global_now(*sources_.parts) : name);
  if (!out) co_return message(404, "Resource not found");
  auto it = t.query.find("url");
  std::string url = it == t.query.end() || it->second.empty() ? std::string(config::defaults::kUrlTestUrl) : it->second;
  auto parsed = outbound::ProbeUrl::parse(url);
  if (!parsed) co_return message(400, "Body invalid");
  auto timeout = parse_timeout(t);
  if (timeout == 0) co_return message(400, "Body invalid");
  const auto limit = std::chrono::milliseconds(timeout);
  auto r = co_await outbound::probe_url(*out, *parsed, limit, nullptr);
  std::optional<std::uint16_t> ms;
  if (r) ms = r.value();
  record_delay(*out, ms);
  if (!r) {
    if (r.error().code == std::errc::timed_out) co_return message(504, "Timeout");
    co_return message(503, "An error occurred in the delay test");
  }
  co_return delay_response(r.value());
}

asio::awaitable<ClashResponse> ClashApi::group_delay(const std::string& name, const Target& t) {
  const auto members = members_of(name);
  if (members.empty()) co_return message(404, "Resource not found");
  json result = json::object();
  // A urltest measures with its own URL and records the delays it chooses by.
  auto* u = dynamic_cast<outbound::UrlTestOutbound*>(sources_.parts->outbound(name));
  if (u) {
    asio::awaitable<void> check = u->check_all();
    co_await std::move(check);
    for (auto* m : u->members()) {
      auto d = u->delay_of(m);
      record_delay(*m, d);
      if (d) result[m->tag()] = *d;
    }
    co_return json_response(200, result);
  }
  auto it = t.query.find("url");
  std::string url = it == t.query.end() || it->second.empty() ? std::string(config::defaults::kUrlTestUrl) : it->second;
  auto parsed = outbound::ProbeUrl::parse(url);
  auto timeout = parse_timeout(t);
  if (!parsed || timeout == 0) co_return message(400, "Body invalid");
  const auto limit = std::chrono::milliseconds(timeout);
  for (auto* m : members) {
    auto r = co_await outbound::probe_url(*m, *parsed, limit, nullptr);
    std::optional<std::uint16_t> ms;
    if (r) ms = r.value();
    record_delay(*m, ms);
    // Only what answered, as sing-box and mihomo list it.
    if (ms) result[m->tag()] = *ms;
  }
  co_return json_response(200, result);
}

asio::awaitable<ClashResponse> ClashApi::handle(const http::RequestHead& req, const Target& t, const std::string& body) {
  const auto& s = t.segments;
  const std::string& m = req.method;
  if (s.empty()) {
    if (m == "GET") co_return hello();
  } else if (s[0] == "version" && s.size() == 1) {
    co_return version();
  } else if (s[0] == "configs" && s.size() == 1) {
    if (m == "GET") co_return body_response(configs_json());
    if (m == "PATCH") co_return patch_configs(body);
    if (m == "PUT") co_return put_configs(body);
  } else if (s[0] == "proxies") {
    if (s.size() == 1 && m == "GET") co_return body_response(proxies_json());
    if (s.size() == 2 && m == "GET") co_return proxy_response(s[1]);
    if (s.size() == 2 && m == "PUT") co_return select(s[1], body);
    if (s.size() == 3 && s[2] == "delay" && m == "GET") co_return co_await delay(s[1], t);
  } else if (s[0] == "group") {
    if (s.size() == 1 && m == "GET") co_return groups();
    if (s.size() == 2 && m == "GET") co_return group_response(s[1]);
    if (s.size() == 3 && s[2] == "delay" && m == "GET") co_return co_await group_delay(s[1], t);
  } else if (s[0] == "connections") {
    if (s.size() == 1 && m == "GET") co_return body_response(connections_json());
    if (s.size() == 1 && m == "DELETE") {
      if (sources_.tracker) sources_.tracker->close_all();
      co_return no_content();
    }
    if (s.size() == 2 && m == "DELETE") {
      if (sources_.tracker) sources_.tracker->close(s[1]);
      co_return no_content();  // Clash answers 204 for unknown ids too
    }
  } else if (s[0] == "providers" && s.size() == 2 && m == "GET") {
    // No proxy or rule providers here; dashboards ask anyway.
    co_return no_providers();
  } else if (s[0] == "rules" && s.size() == 1 && m == "GET") {
    co_return body_response(rules_json());
  } else if (s[0] == "dns" && s.size() == 2 && s[1] == "query") {
    if (m == "GET") co_return co_await dns_query(t);
  } else if (s[0] == "cache" && s.size() == 3 && s[2] == "flush" && (s[1] == "dns" || s[1] == "fakeip")) {
    if (m != "POST") co_return message(405, "Method not allowed");
    if (s[1] == "dns") co_return flush_dns();
    co_return flush_fakeip();
  } else {
    co_return message(404, "Resource not found");
  }
  co_return message(405, "Method not allowed");
}

ClashResponse ClashApi::proxy_response(const std::string& name) const {
  if (name == kGlobalGroup) return body_response(global_json());
  auto* out = sources_.parts->outbound(name);
  if (!out) return message(404, "Resource not found");
  return body_response(proxy_json(*out));
}

ClashResponse ClashApi::groups() const {
  json list = json::array();
  for (const auto* o : sources_.parts->outbounds())
    if (dynamic_cast<const outbound::Group*>(o)) list.push_back(json::parse(proxy_json(*o)));
  return groups_response(std::move(list));
}

ClashResponse ClashApi::group_response(const std::string& name) const {
  if (name == kGlobalGroup) return body_response(global_json());
  auto* out = sources_.parts->outbound(name);
  if (!out || !dynamic_cast<outbound::Group*>(out)) return message(404, "Resource not found");
  return body_response(proxy_json(*out));
}

}  // namespace anytls::app
