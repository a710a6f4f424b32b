// Loading the configuration (load.hpp): read, parse and merge the documents,
// then decode the top level, section by section (sections.hpp: one file per
// section), and check what refers across sections.
#include "config/load.hpp"

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "config/sections.hpp"

namespace anytls::config {
namespace detail {
namespace {

// The legacy `{"type": "dns"}` outbound (sing-box before 1.12): a route rule
// that sends to it is a hijack-dns rule, as sing-box 1.11 converts it; the
// outbound itself is dropped. Anywhere else (final, a group, a detour) it
// would carry nothing, so it is refused there by name.
void convert_dns_outbounds(Options& opts) {
  std::set<std::string, std::less<>> tags;
  for (std::size_t i = 0; i < opts.outbounds.size(); ++i) {
    if (opts.outbounds[i].type != "dns") continue;
    tags.insert(opts.outbounds[i].tag);
    opts.warnings.push_back(item("outbounds", i) + ": the legacy dns outbound: route rules naming " +
                            in_quotes(opts.outbounds[i].tag) + " hijack DNS (action hijack-dns)");
  }
  if (tags.empty()) return;
  for (auto& r : opts.route.rules) {
    if (r.action != RuleAction::route || !tags.count(r.outbound)) continue;
    r.action = RuleAction::hijack_dns;
    r.outbound.clear();
  }
  const std::string why = ": the dns outbound only works in route rules (as hijack-dns)";
  if (tags.count(opts.route.final)) fail("route.final", in_quotes(opts.route.final) + why);
  for (std::size_t i = 0; i < opts.outbounds.size(); ++i) {
    const auto& out = opts.outbounds[i];
    const std::vector<std::string>* members = nullptr;
    if (const auto* g = std::get_if<SelectorOutboundOptions>(&out.options)) members = &g->outbounds;
    if (const auto* g = std::get_if<UrlTestOutboundOptions>(&out.options)) members = &g->outbounds;
    for (std::size_t k = 0; members && k < members->size(); ++k)
      if (tags.count((*members)[k])) fail(item(child(item("outbounds", i), "outbounds"), k), in_quotes((*members)[k]) + why);
  }
  std::erase_if(opts.outbounds, [&](const OutboundOptions& o) { return o.type == "dns"; });
}

Options decode(const json& root) {
  Obj o(root, "");
  Options opts;
  (void)o.get("$schema");
  if (const json* d = o.get("dns")) opts.dns = decode_dns(*d, "dns", opts.warnings);
  if (const json* n = o.get("ntp")) opts.ntp = decode_ntp(*n, "ntp");
  for (const char* key : {"certificate", "endpoints", "services"}) {
    if (o.get(key)) fail(key, "not supported by anytls-cpp");
  }
  if (const json* e = o.get("experimental")) decode_experimental(*e, "experimental", opts);
  if (const json* log = o.get("log")) opts.log = decode_log(*log, "log");
  if (const json* ins = o.get("inbounds")) {
    if (!ins->is_array()) fail("inbounds", "expected array, got " + kind(*ins));
    for (std::size_t i = 0; i < ins->size(); ++i) opts.inbounds.push_back(decode_inbound((*ins)[i], item("inbounds", i), opts.warnings));
  }
  if (const json* outs = o.get("outbounds")) {
    if (!outs->is_array()) fail("outbounds", "expected array, got " + kind(*outs));
    for (std::size_t i = 0; i < outs->size(); ++i)
      opts.outbounds.push_back(decode_outbound((*outs)[i], item("outbounds", i), opts.warnings));
  }
  if (const json* route = o.get("route")) opts.route = decode_route(*route, "route", opts.warnings);
  o.finish();

  assign_tags(opts.inbounds, "inbounds");
  if (opts.outbounds.empty()) {
    opts.outbounds.push_back(OutboundOptions{"direct", "direct", DirectOutboundOptions{}});
  }
  assign_tags(opts.outbounds, "outbounds");
  convert_dns_outbounds(opts);
  if (opts.outbounds.empty()) opts.outbounds.push_back(OutboundOptions{"direct", "direct", DirectOutboundOptions{}});

  OutboundIndex outbound_index;
  for (std::size_t i = 0; i < opts.outbounds.size(); ++i) outbound_index[opts.outbounds[i].tag] = i;
  check_detours(opts, outbound_index);
  if (opts.route.final.empty()) opts.route.final = opts.outbounds.front().tag;
  check_route_references(opts, outbound_index);
  // Legacy inbound sniffing (sing-box < 1.11): a sniff rule for that inbound
  // ahead of the others, as sing-box itself converts it.
  std::vector<RouteRule> legacy;
  for (const auto& in : opts.inbounds) {
    const ListenOptions& l = in.listen();
    if (!l.sniff) continue;
    RouteRule r;
    r.inbound = {in.tag};
    r.action = RuleAction::sniff;
    r.sniff_timeout = l.sniff_timeout;
    r.override_destination = l.sniff_override_destination;
    legacy.push_back(std::move(r));
  }
  // Legacy inbound domain_strategy: a resolve rule for that inbound, after
  // its sniff rule (what sing-box 1.11 converts it to).
  for (const auto& in : opts.inbounds) {
    const ListenOptions& l = in.listen();
    if (l.domain_strategy == DomainStrategy::as_is) continue;
    RouteRule r;
    r.inbound = {in.tag};
    r.action = RuleAction::resolve;
    r.resolve_strategy = l.domain_strategy;
    legacy.push_back(std::move(r));
  }
  opts.route.rules.insert(opts.route.rules.begin(), legacy.begin(), legacy.end());
  check_dns_references(opts, outbound_index);
  if (!opts.ntp.dial.detour.empty() && !outbound_index.count(opts.ntp.dial.detour))
    fail("ntp.detour", "unknown outbound " + in_quotes(opts.ntp.dial.detour));
  if (opts.clash_api && !opts.clash_api->external_ui_download_detour.empty() &&
      !outbound_index.count(opts.clash_api->external_ui_download_detour))
    fail("experimental.clash_api.external_ui_download_detour",
         "unknown outbound " + in_quotes(opts.clash_api->external_ui_download_detour));
  check_tun_references(opts);
  for (std::size_t i = 0; i < opts.inbounds.size(); ++i) {
    if (opts.inbounds[i].listen().udp_fragment)
      opts.warnings.push_back(child(item("inbounds", i), "udp_fragment") +
                              ": ignored: the kernel's default path MTU discovery applies");
    const auto* m = std::get_if<MixedInboundOptions>(&opts.inbounds[i].options);
    if (m && m->set_system_proxy)
      opts.warnings.push_back(child(item("inbounds", i), "set_system_proxy") +
                              ": ignored: a headless Linux has no system proxy setting to change");
  }
  check_groups(opts, outbound_index);
  return opts;
}

}  // namespace

// `text` parsed in place (no copy: a rule set's text can be tens of MB).
json parse(std::string_view text, const std::string& name) {
  try {
    return json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/true, /*ignore_comments=*/true);
  } catch (const json::parse_error& e) {
    std::string msg = e.what();
    // "[json.exception.parse_error.101] parse error at line 3, ..." -> "parse error at line 3, ..."
    if (auto close = msg.find("] "); msg.rfind("[json.exception", 0) == 0 && close != std::string::npos)
      msg = msg.substr(close + 2);
    fail(name, msg);
  }
}

namespace {

// sing-box's merge: objects merge key by key, arrays concatenate, anything
// else is replaced by the later value.
void merge_into(json& dst, const json& src) {
  if (dst.is_object() && src.is_object()) {
    for (auto it = src.begin(); it != src.end(); ++it) {
      auto found = dst.find(it.key());
      if (found == dst.end()) dst[it.key()] = it.value();
      else merge_into(*found, it.value());
    }
  } else if (dst.is_array() && src.is_array()) {
    for (const auto& e : src) dst.push_back(e);
  } else {
    dst = src;
  }
}

json merge_sources(const std::vector<ConfigSource>& sources) {
  json merged = json::object();
  for (const auto& s : sources) {
    json doc = parse(s.text, s.name);
    if (!doc.is_object()) fail(s.name, "expected a JSON object at the top level, got " + kind(doc));
    merge_into(merged, doc);
  }
  return merged;
}

}  // namespace
}  // namespace detail

// ------------------------------------------------------------ public API

ConfigSource read_source(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) detail::fail(file.string(), "cannot read file");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) detail::fail(file.string(), "cannot read file");
  return {file.string(), ss.str()};
}

std::vector<std::filesystem::path> list_config_dir(const std::filesystem::path& dir) {
  std::error_code ec;
  std::vector<std::filesystem::path> out;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec) detail::fail(dir.string(), "cannot read directory: " + ec.message());
  for (const auto& entry : it) {
    if (entry.path().extension() == ".json" && !entry.is_directory()) out.push_back(entry.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

Options load(const std::vector<ConfigSource>& sources) {
  return detail::decode(detail::merge_sources(sources));
}

Options load_string(std::string_view text, std::string_view name) {
  return load({ConfigSource{std::string(name), std::string(text)}});
}

Options load_file(const std::filesystem::path& file) {
  return load({read_source(file)});
}

Options load_files(const std::vector<std::filesystem::path>& files) {
  std::vector<ConfigSource> sources;
  for (const auto& f : files) sources.push_back(read_source(f));
  return load(sources);
}

std::string merged_json(const std::vector<ConfigSource>& sources) {
  return detail::merge_sources(sources).dump(2) + "\n";
}

std::string format_json(const ConfigSource& source) {
  return detail::parse(source.text, source.name).dump(2) + "\n";
}

}  // namespace anytls::config
