#include "tun/redirect_rules.hpp"

#include <nftables/libnftables.h>

#include <cctype>
#include <utility>

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

// Whether the listed table still redirects to one of our ports (a later
// run may have replaced it with its own).
bool redirects_to(const std::string& listing, std::uint16_t port) {
  if (port == 0) return false;
  const std::string needle = "redirect to :" + std::to_string(port);
  for (auto at = listing.find(needle); at != std::string::npos; at = listing.find(needle, at + 1)) {
    const auto end = at + needle.size();
    if (end == listing.size() || !std::isdigit(static_cast<unsigned char>(listing[end]))) return true;
  }
  return false;
}

}  // namespace

std::string redirect_ruleset(const RedirectPlan& plan) {
  std::string s = "table " + kTable + " {}\ndelete table " + kTable + "\ntable " + kTable + " {\n";
  s += "  chain output {\n    type nat hook output priority mangle; policy accept;\n";
  auto rule = [&](const char* family, std::uint16_t port) {
    if (port == 0) return;
    s += "    oifname \"" + plan.tun_name + "\" meta nfproto " + family + " meta l4proto tcp counter redirect to :" +
         std::to_string(port) + "\n";
  };
  rule("ipv4", plan.port4);
  rule("ipv6", plan.port6);
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
  if (plan_.tun_name.find_first_of("\"\\") != std::string::npos)
    return failure("interface " + plan_.tun_name, "a name with a quote or backslash can't be written in a rule");
  Nft nft;
  if (auto err = nft.run(redirect_ruleset(plan_))) return failure("write table " + kTable, *err);
  installed_ = true;
  return std::nullopt;
}

std::optional<net::Error> RedirectRules::remove() {
  if (!installed_) return std::nullopt;
  installed_ = false;
  Nft nft;
  std::string listing;
  if (nft.run("list table " + kTable, &listing)) return std::nullopt;  // already gone
  if (!redirects_to(listing, plan_.port4) && !redirects_to(listing, plan_.port6)) return std::nullopt;
  if (auto err = nft.run("delete table " + kTable)) return failure("remove table " + kTable, *err);
  return std::nullopt;
}

}  // namespace anytls::tun
