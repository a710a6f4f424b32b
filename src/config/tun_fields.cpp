// The tun inbound's fields (sing-box 1.11-1.12 option/tun.go): each one
// works, is accepted with a warning naming its path, or is refused with the
// reason (spec/config.md).
#include <algorithm>
#include <array>

#include <asio/ip/address.hpp>

#include "config/sections.hpp"

namespace anytls::config::detail {
namespace {

// A prefix of `address`: the system stack listens on its address and
// rewrites connections to come from the next one, so both must be inside.
void check_tun_address(const std::string& p, const std::string& path) {
  const auto slash = p.find('/');
  if (!valid_cidr(p) || slash == std::string::npos)
    fail(path, "expected an address prefix such as 172.19.0.1/30, got " + in_quotes(p));
  const auto addr = asio::ip::make_address(p.substr(0, slash));
  std::array<unsigned char, 16> bytes{};
  std::size_t width = 128;
  if (addr.is_v4()) {
    const auto b4 = addr.to_v4().to_bytes();
    std::copy(b4.begin(), b4.end(), bytes.begin());
    width = 32;
  } else {
    bytes = addr.to_v6().to_bytes();
  }
  const std::size_t bits = std::stoul(p.substr(slash + 1));
  if (bits + 1 > width)
    fail(path, "the prefix must hold at least 2 addresses (such as /30 or /126): the stack listens on the "
               "address and rewrites connections to come from the next one");
  // Host part all ones: the address is the prefix's last, its next is outside.
  bool last = true;
  for (std::size_t bit = bits; bit < width; ++bit) last = last && (bytes[bit / 8] & (0x80 >> (bit % 8)));
  if (last) fail(path, "the address is the last of its prefix: the stack needs the next one inside it too");
}

std::vector<std::string> get_prefixes(Obj& o, std::string_view key) {
  auto v = get_strings(o, key);
  for (std::size_t i = 0; i < v.size(); ++i)
    if (!valid_cidr(v[i])) fail(item(o.at(key), i), "expected an address prefix, got " + in_quotes(v[i]));
  return v;
}

std::vector<UidRange> get_uids(Obj& o, std::string_view key) {
  const json* v = o.get(key);
  if (!v) return {};
  std::vector<UidRange> out;
  if (!v->is_array()) {
    const auto u = static_cast<std::uint32_t>(to_uint(*v, o.at(key), 0xffffffffULL));
    out.push_back({u, u});
    return out;
  }
  for (std::size_t i = 0; i < v->size(); ++i) {
    const auto u = static_cast<std::uint32_t>(to_uint((*v)[i], item(o.at(key), i), 0xffffffffULL));
    out.push_back({u, u});
  }
  return out;
}

// "1000:99999"
std::vector<UidRange> get_uid_ranges(Obj& o, std::string_view key) {
  auto v = get_strings(o, key);
  std::vector<UidRange> out;
  for (std::size_t i = 0; i < v.size(); ++i) {
    const auto colon = v[i].find(':');
    const std::string a = v[i].substr(0, colon);
    const std::string b = colon == std::string::npos ? "" : v[i].substr(colon + 1);
    if (colon == std::string::npos || a.empty() || b.empty() || a.size() > 10 || b.size() > 10 ||
        a.find_first_not_of("0123456789") != std::string::npos || b.find_first_not_of("0123456789") != std::string::npos)
      fail(item(o.at(key), i), "expected a uid range \"first:last\", got " + in_quotes(v[i]));
    const auto first = std::stoull(a), last = std::stoull(b);
    if (first > 0xffffffffULL || last > 0xffffffffULL || first > last)
      fail(item(o.at(key), i), "invalid uid range " + in_quotes(v[i]));
    out.push_back({static_cast<std::uint32_t>(first), static_cast<std::uint32_t>(last)});
  }
  return out;
}

void append(std::vector<std::string>& to, std::vector<std::string> from) {
  to.insert(to.end(), from.begin(), from.end());
}

void warn(std::vector<std::string>& warnings, const std::string& path, std::string_view what) {
  warnings.push_back(path + ": " + std::string(what));
}

}  // namespace

TunInboundOptions decode_tun_inbound(Obj& o, std::vector<std::string>& warnings) {
  TunInboundOptions t;
  decode_sniff_fields(o, t.listen);
  t.listen.udp_timeout = get_udp_timeout(o, "udp_timeout");
  // Legacy (sing-box < 1.11), as on the other inbounds: decode() turns it
  // into a resolve rule for this inbound.
  t.listen.domain_strategy = parse_strategy(o, "domain_strategy");

  (void)get_bool(o, "udp_disable_domain_unmapping");  // replies always come from the address the client used

  t.interface_name = get_string(o, "interface_name");
  if (t.interface_name.size() >= 16) fail(o.at("interface_name"), "longer than 15 characters (IFNAMSIZ)");
  if (t.interface_name.find('/') != std::string::npos || t.interface_name.find(' ') != std::string::npos)
    fail(o.at("interface_name"), "not a valid interface name");
  t.address = get_strings(o, "address");
  for (std::size_t i = 0; i < t.address.size(); ++i) check_tun_address(t.address[i], item(o.at("address"), i));
  for (const char* key : {"inet4_address", "inet6_address"}) {
    auto legacy = get_strings(o, key);
    for (std::size_t i = 0; i < legacy.size(); ++i) check_tun_address(legacy[i], item(o.at(key), i));
    if (!legacy.empty()) warn(warnings, o.at(key), "deprecated in sing-box 1.10 (merged into \"address\"); loaded as address");
    append(t.address, std::move(legacy));
  }
  if (t.address.empty())
    fail(o.at("address"), "missing: the system stack needs an address prefix for the tun (such as 172.19.0.1/30)");
  bool has_v4 = false, has_v6 = false;
  for (const auto& a : t.address) (a.find(':') == std::string::npos ? has_v4 : has_v6) = true;

  if (auto mtu = get_uint(o, "mtu", 65535)) {
    if (*mtu != 0) t.mtu = static_cast<std::uint32_t>(*mtu);
    const std::uint32_t least = has_v6 ? 1280 : 576;
    if (t.mtu < least) fail(o.at("mtu"), "at least " + std::to_string(least) + (has_v6 ? " with an IPv6 address" : ""));
  }
  t.auto_route = get_bool(o, "auto_route");
  if (auto n = get_uint(o, "iproute2_table_index", 0xffffffffULL); n && *n) t.iproute2_table_index = static_cast<std::uint32_t>(*n);
  if (auto n = get_uint(o, "iproute2_rule_index", 32765); n && *n) t.iproute2_rule_index = static_cast<std::uint32_t>(*n);
  t.strict_route = get_bool(o, "strict_route");
  if (t.strict_route && !t.auto_route) warn(warnings, o.at("strict_route"), "has no effect without auto_route");
  t.route_address = get_prefixes(o, "route_address");
  t.route_exclude_address = get_prefixes(o, "route_exclude_address");
  for (const char* key : {"inet4_route_address", "inet6_route_address"}) {
    auto legacy = get_prefixes(o, key);
    if (!legacy.empty()) warn(warnings, o.at(key), "deprecated in sing-box 1.10 (merged into \"route_address\"); loaded as route_address");
    append(t.route_address, std::move(legacy));
  }
  for (const char* key : {"inet4_route_exclude_address", "inet6_route_exclude_address"}) {
    auto legacy = get_prefixes(o, key);
    if (!legacy.empty())
      warn(warnings, o.at(key), "deprecated in sing-box 1.10 (merged into \"route_exclude_address\"); loaded as route_exclude_address");
    append(t.route_exclude_address, std::move(legacy));
  }
  t.route_address_set = get_strings(o, "route_address_set");
  t.route_exclude_address_set = get_strings(o, "route_exclude_address_set");
  t.include_interface = get_strings(o, "include_interface");
  t.exclude_interface = get_strings(o, "exclude_interface");
  if (!t.include_interface.empty() && !t.exclude_interface.empty())
    fail(o.at("exclude_interface"), "include_interface and exclude_interface exclude each other");
  t.include_uid = get_uids(o, "include_uid");
  for (auto r : get_uid_ranges(o, "include_uid_range")) t.include_uid.push_back(r);
  t.exclude_uid = get_uids(o, "exclude_uid");
  for (auto r : get_uid_ranges(o, "exclude_uid_range")) t.exclude_uid.push_back(r);

  // auto_redirect: the TCP auto_route sends to the tun (this host's and
  // forwarded) redirected to a listener by nftables (sing-tun's layout
  // without marks; tun/redirect_rules.hpp).
  t.auto_redirect = get_bool(o, "auto_redirect");
  if (t.auto_redirect && !t.auto_route) fail(o.at("auto_redirect"), "needs auto_route");
  t.auto_redirect_input_mark = get_mark(o, "auto_redirect_input_mark");
  if (t.auto_redirect_input_mark == 0) t.auto_redirect_input_mark = defaults::kTunRedirectInputMark;
  t.auto_redirect_output_mark = get_mark(o, "auto_redirect_output_mark");
  if (t.auto_redirect_output_mark == 0) t.auto_redirect_output_mark = defaults::kTunRedirectOutputMark;
  // sing-tun's marks route what its nftables sets match (route_address_set,
  // which is refused with auto_route below) and its pre-match queue; the
  // redirect here needs none of them.
  (void)get_mark(o, "auto_redirect_reset_mark");
  (void)get_uint(o, "auto_redirect_nfqueue", 65535);
  (void)get_uint(o, "auto_redirect_iproute2_fallback_rule_index", 0xffffffffULL);  // sing-box: 32768
  o.refuse_enabled("exclude_mptcp", "not supported: MPTCP connections are redirected as TCP (answered without MPTCP)");
  for (const char* key : {"loopback_address", "include_mac_address", "exclude_mac_address"}) {
    if (!get_strings(o, key).empty())
      fail(o.at(key), "not supported: auto_redirect here has no loopback address rewriting and no MAC address filter");
  }

  t.endpoint_independent_nat = get_bool(o, "endpoint_independent_nat");
  if (t.endpoint_independent_nat)
    warn(warnings, o.at("endpoint_independent_nat"),
         "ignored: UDP flows are kept per source and destination (sing-box has it on the gvisor stack only)");
  t.stack = get_string(o, "stack", "system");
  if (t.stack.empty()) t.stack = "system";
  if (t.stack != "system" && t.stack != "gvisor" && t.stack != "mixed")
    fail(o.at("stack"), "unknown stack " + in_quotes(t.stack) + " (system gvisor mixed)");

  // Android and macOS only: nothing here to apply them to.
  if (const json* v = o.get("include_android_user"); v && !v->empty())
    warn(warnings, o.at("include_android_user"), "ignored: Android only");
  for (const char* key : {"include_package", "exclude_package"})
    if (!get_strings(o, key).empty()) warn(warnings, o.at(key), "ignored: Android only");
  if (o.get("platform")) warn(warnings, o.at("platform"), "ignored: the platform's HTTP proxy is for Android and Apple clients");
  if (get_bool(o, "gso")) warn(warnings, o.at("gso"), "ignored: removed in sing-box 1.11");
  return t;
}

void check_tun_references(const Options& opts) {
  bool redirecting = false;  // auto_redirect's table is one per host
  for (std::size_t i = 0; i < opts.inbounds.size(); ++i) {
    const auto* t = std::get_if<TunInboundOptions>(&opts.inbounds[i].options);
    if (!t) continue;
    if (t->auto_redirect && redirecting)
      fail(child(item("inbounds", i), "auto_redirect"), "only one tun inbound can have auto_redirect (its nftables table is one)");
    redirecting = redirecting || t->auto_redirect;
    auto check = [&](const std::vector<std::string>& tags, const char* key) {
      for (std::size_t k = 0; k < tags.size(); ++k) {
        bool found = false;
        for (const auto& rs : opts.route.rule_set) found = found || rs.tag == tags[k];
        if (!found) fail(item(child(item("inbounds", i), key), k), "rule-set not found: " + in_quotes(tags[k]));
      }
    };
    check(t->route_address_set, "route_address_set");
    check(t->route_exclude_address_set, "route_exclude_address_set");
    // With auto_route they would change the tun's routes; their prefixes
    // are not taken out of the rule sets yet, so say so rather than route
    // differently from what was asked.
    for (const char* key : {"route_address_set", "route_exclude_address_set"}) {
      const auto& tags = std::string_view(key) == "route_address_set" ? t->route_address_set : t->route_exclude_address_set;
      if (t->auto_route && !tags.empty())
        fail(child(item("inbounds", i), key), "not supported yet: routes from a rule set's ip_cidr; list the prefixes in " +
                                                  std::string(key).substr(0, std::string(key).size() - 4));
    }
  }
}

}  // namespace anytls::config::detail
