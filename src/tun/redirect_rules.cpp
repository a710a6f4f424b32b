#include "tun/redirect_rules.hpp"

#include <ifaddrs.h>
#include <netinet/in.h>
#include <nftables/libnftables.h>
#include <sys/socket.h>

#include <algorithm>
#include <bit>
#include <cctype>
#include <utility>

#include "tun/auto_route.hpp"

namespace anytls::tun {

namespace {

// One libnftables context, its output and errors kept in buffers (the
// library would print them otherwise).
class Nft {
 public:
  Nft() : ctx_(nft_ctx_new(NFT_CTX_DEFAULT)) {
    if (ctx_) {
      nft_ctx_buffer_output(ctx_);
      nft_ctx_buffer_error(ctx_);
    }
  }
  ~Nft() {
    if (ctx_) nft_ctx_free(ctx_);
  }
  Nft(const Nft&) = delete;
  Nft& operator=(const Nft&) = delete;

  // Runs a script (one transaction); the first line nft wrote when refused.
  std::optional<std::string> run(const std::string& script, std::string* output = nullptr) {
    if (!ctx_) return "libnftables: no context";
    const int rc = nft_run_cmd_from_buffer(ctx_, script.c_str());
    if (output) *output = nft_ctx_get_output_buffer(ctx_);
    if (rc == 0) return std::nullopt;
    std::string text = nft_ctx_get_error_buffer(ctx_);
    if (auto nl = text.find('\n'); nl != std::string::npos) text.resize(nl);
    if (text.empty()) text = "nftables refused the rules";
    if (text.find("Operation not permitted") != std::string::npos) text += " (CAP_NET_ADMIN is needed)";
    return text;
  }

 private:
  nft_ctx* ctx_;
};

const std::string kTable = std::string("inet ") + kRedirectTable;

net::Error failure(const std::string& step, const std::string& why) {
  return net::Error{std::make_error_code(std::errc::operation_not_permitted), "auto_redirect: " + step + ": " + why};
}

// Whether the listed table still redirects to one of the plan's ports (a
// later run may have replaced it with its own).
bool redirects_to(const std::string& listing, std::uint16_t port) {
  if (port == 0) return false;
  const std::string needle = "redirect to :" + std::to_string(port);
  for (auto at = listing.find(needle); at != std::string::npos; at = listing.find(needle, at + 1)) {
    const auto end = at + needle.size();
    if (end == listing.size() || !std::isdigit(static_cast<unsigned char>(listing[end]))) return true;
  }
  return false;
}

bool ours(const std::string& listing, const RedirectPlan& plan) {
  return redirects_to(listing, plan.port4) || redirects_to(listing, plan.port6);
}

// { a, b }, or "" when empty.
std::string element_set(const std::vector<std::string>& items, bool quoted) {
  if (items.empty()) return {};
  std::string out = "{ ";
  for (std::size_t i = 0; i < items.size(); ++i)
    out += (i ? ", " : "") + (quoted ? "\"" + items[i] + "\"" : items[i]);
  return out + " }";
}

// One family's prefixes, host bits cleared, without duplicates or prefixes
// inside others (an nftables interval set refuses overlaps).
std::vector<std::string> disjoint(const std::vector<IpPrefix>& prefixes, bool v6) {
  std::vector<IpPrefix> of;
  for (const auto& p : prefixes)
    if (p.address.is_v6() == v6) of.push_back(masked(p));
  std::vector<std::string> out;
  for (const auto& p : subtract_prefixes(of, {})) out.push_back(p.to_string());
  return out;
}

}  // namespace

std::vector<IpPrefix> local_subnets() {
  std::vector<IpPrefix> out;
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return out;
  for (auto* i = list; i; i = i->ifa_next) {
    if (!i->ifa_addr || !i->ifa_netmask) continue;
    const bool lo = i->ifa_name && std::string_view(i->ifa_name) == "lo";
    IpPrefix p;
    if (i->ifa_addr->sa_family == AF_INET) {
      const auto* a = reinterpret_cast<const sockaddr_in*>(i->ifa_addr);
      const auto* m = reinterpret_cast<const sockaddr_in*>(i->ifa_netmask);
      const auto v4 = asio::ip::address_v4(ntohl(a->sin_addr.s_addr));
      if (!lo && (v4.is_loopback() || v4.is_multicast() || v4.is_unspecified() || (v4.to_uint() >> 16) == 0xa9fe))
        continue;  // 169.254/16: link-local
      p.address = v4;
      p.length = static_cast<std::uint8_t>(std::popcount(m->sin_addr.s_addr));
    } else if (i->ifa_addr->sa_family == AF_INET6) {
      const auto* a = reinterpret_cast<const sockaddr_in6*>(i->ifa_addr);
      const auto* m = reinterpret_cast<const sockaddr_in6*>(i->ifa_netmask);
      asio::ip::address_v6::bytes_type bytes;
      std::copy(std::begin(a->sin6_addr.s6_addr), std::end(a->sin6_addr.s6_addr), bytes.begin());
      const auto v6 = asio::ip::address_v6(bytes);
      if (!lo && (v6.is_loopback() || v6.is_multicast() || v6.is_unspecified() || v6.is_link_local())) continue;
      unsigned bits = 0;
      for (auto byte : m->sin6_addr.s6_addr) bits += static_cast<unsigned>(std::popcount(byte));
      p.address = v6;
      p.length = static_cast<std::uint8_t>(bits);
    } else {
      continue;
    }
    out.push_back(masked(p));
  }
  ::freeifaddrs(list);
  return out;
}

std::string redirect_ruleset(const RedirectPlan& plan) {
  const std::string tun = "\"" + plan.tun_name + "\"";
  struct Family {
    const char* name;  // nfproto
    const char* ip;    // the daddr match's protocol
    std::uint16_t port;
    std::vector<std::string> routed, local;
  };
  std::vector<Family> families;
  for (bool v6 : {false, true}) {
    const auto port = v6 ? plan.port6 : plan.port4;
    if (port != 0)
      families.push_back({v6 ? "ipv6" : "ipv4", v6 ? "ip6" : "ip", port, disjoint(plan.routed, v6), disjoint(plan.local, v6)});
  }
  const auto redirect = [](const Family& f) { return "counter redirect to :" + std::to_string(f.port) + "\n"; };

  std::string s = "table " + kTable + " {}\ndelete table " + kTable + "\ntable " + kTable + " {\n";
  s += "  chain output {\n    type nat hook output priority mangle; policy accept;\n";
  for (const auto& f : families)
    s += "    oifname " + tun + " meta nfproto " + f.name + " meta l4proto tcp " + redirect(f);
  s += "  }\n  chain prerouting {\n    type nat hook prerouting priority dstnat + 1; policy accept;\n";
  s += "    iifname " + tun + " return\n";
  if (!plan.include_interface.empty()) s += "    iifname != " + element_set(plan.include_interface, true) + " return\n";
  else if (!plan.exclude_interface.empty()) s += "    iifname " + element_set(plan.exclude_interface, true) + " return\n";
  s += "    fib daddr type local return\n";
  for (const auto& f : families)
    if (!f.local.empty()) s += std::string("    ") + f.ip + " daddr " + element_set(f.local, false) + " return\n";
  for (const auto& f : families) {
    if (f.routed.empty()) continue;  // auto_route sends none of this family to the tun
    const bool everything = f.routed.size() == 1 && f.routed[0].ends_with("/0");
    s += std::string("    meta nfproto ") + f.name + " meta l4proto tcp " +
         (everything ? "" : std::string(f.ip) + " daddr " + element_set(f.routed, false) + " ") + redirect(f);
  }
  std::vector<std::string> ports;
  for (const auto& f : families) ports.push_back(std::to_string(f.port));
  s += "  }\n  chain input {\n    type filter hook input priority filter; policy accept;\n";
  if (!ports.empty()) s += "    meta l4proto tcp th dport " + element_set(ports, false) + " ct status & dnat == 0 counter drop\n";
  s += "  }\n}\n";
  return s;
}

net::Result<bool> remove_stale_redirect() {
  Nft nft;
  if (!nft.run("list table " + kTable)) {
    if (auto err = nft.run("delete table " + kTable)) return failure("remove the table an earlier run left", *err);
    return true;
  }
  return false;  // none (or not listable: the install says why)
}

RedirectRules::RedirectRules(RedirectPlan plan) : plan_(std::move(plan)) {}

RedirectRules::~RedirectRules() { remove(); }

std::optional<net::Error> RedirectRules::install() {
  // nftables strings have no escapes: a name with a quote can't be written.
  std::vector<std::string> names = plan_.include_interface;
  names.insert(names.end(), plan_.exclude_interface.begin(), plan_.exclude_interface.end());
  names.push_back(plan_.tun_name);
  for (const auto& name : names)
    if (name.find_first_of("\"\\") != std::string::npos)
      return failure("interface " + name, "a name with a quote or backslash can't be written in a rule");
  Nft nft;
  if (auto err = nft.run(redirect_ruleset(plan_))) return failure("write table " + kTable, *err);
  installed_ = true;
  return std::nullopt;
}

net::Result<RedirectRules::Kept> RedirectRules::keep(std::vector<IpPrefix> local) {
  if (!installed_) return Kept::unchanged;
  std::string listing;
  Kept what = Kept::subnets_changed;
  if (Nft().run("list table " + kTable, &listing)) what = Kept::restored;
  else if (!ours(listing, plan_)) return Kept::taken_over;
  else if (local == plan_.local) return Kept::unchanged;
  plan_.local = std::move(local);
  if (auto err = install()) return *err;
  return what;
}

std::optional<net::Error> RedirectRules::remove() {
  if (!installed_) return std::nullopt;
  installed_ = false;
  Nft nft;
  std::string listing;
  if (nft.run("list table " + kTable, &listing)) return std::nullopt;  // already gone
  if (!ours(listing, plan_)) return std::nullopt;
  if (auto err = nft.run("delete table " + kTable)) return failure("remove table " + kTable, *err);
  return std::nullopt;
}

}  // namespace anytls::tun
