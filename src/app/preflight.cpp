#include "app/preflight.hpp"

#include <map>

#include <asio/io_context.hpp>

#include "anytls/padding.hpp"
#include "config/load.hpp"
#include "dns/client.hpp"
#include "net/resolver.hpp"
#include "outbound/anytls.hpp"
#include "outbound/block.hpp"
#include "outbound/dial_options.hpp"
#include "outbound/direct.hpp"
#include "outbound/selector.hpp"
#include "outbound/urltest.hpp"
#include "route/rule_router.hpp"
#include "tls/context.hpp"

namespace anytls::app {

namespace {

bool is_field_char(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; }

}  // namespace

void throw_at(const std::string& base, const std::string& text) {
  // "cannot read <field> <rest>" and "<field>: <rest>", field in snake_case.
  constexpr std::string_view kCannotRead = "cannot read ";
  if (text.rfind(kCannotRead, 0) == 0) {
    auto space = text.find(' ', kCannotRead.size());
    std::string field = text.substr(kCannotRead.size(), space == std::string::npos ? std::string::npos
                                                                                  : space - kCannotRead.size());
    if (space != std::string::npos && std::all_of(field.begin(), field.end(), is_field_char))
      throw config::ConfigError(base + "." + field, "cannot read file " + text.substr(space + 1));
  }
  auto colon = text.find(": ");
  if (colon != std::string::npos && colon > 0 &&
      std::all_of(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(colon), is_field_char))
    throw config::ConfigError(base + "." + text.substr(0, colon), text.substr(colon + 2));
  throw config::ConfigError(base, text);
}

void preflight(const config::Options& options) {
  // Objects are built on an io_context that never runs: nothing listens,
  // dials or resolves.
  asio::io_context io{1};
  auto resolver = std::make_shared<net::Resolver>();
  std::vector<std::unique_ptr<outbound::Outbound>> outbounds;
  std::map<std::string, outbound::Outbound*, std::less<>> by_tag;
  for (std::size_t i = 0; i < options.outbounds.size(); ++i) {
    const auto& o = options.outbounds[i];
    const std::string path = "outbounds[" + std::to_string(i) + "]";
    std::unique_ptr<outbound::Outbound> out;
    try {
      if (const auto* a = std::get_if<config::AnyTlsOutboundOptions>(&o.options)) {
        net::Dialer dialer(outbound::make_dialer_options(a->dial), resolver);
        auto r = outbound::AnyTlsOutbound::create(io, o.tag, *a, std::move(dialer));
        if (!r) throw_at(path + ".tls", r.error().text());
        out = std::move(*r);
      } else if (const auto* d = std::get_if<config::DirectOutboundOptions>(&o.options)) {
        out = std::make_unique<outbound::DirectOutbound>(o.tag, *d, resolver);
      } else if (const auto* s = std::get_if<config::SelectorOutboundOptions>(&o.options)) {
        out = std::make_unique<outbound::SelectorOutbound>(o.tag, *s);
      } else if (const auto* u = std::get_if<config::UrlTestOutboundOptions>(&o.options)) {
        out = std::make_unique<outbound::UrlTestOutbound>(io, o.tag, *u);
      } else {
        out = std::make_unique<outbound::BlockOutbound>(o.tag);
      }
    } catch (const std::invalid_argument& e) {
      throw config::ConfigError(path, e.what());
    }
    by_tag[o.tag] = out.get();
    outbounds.push_back(std::move(out));
  }
  // The rule sets load once, for the route rules and the DNS rules.
  std::shared_ptr<route::RuleSets> sets;
  try {
    sets = std::make_shared<route::RuleSets>(options.route.rule_set, std::string());
    route::RuleRouter router(
        options.route, options.outbounds.front().tag,
        [&by_tag](std::string_view tag) -> outbound::Outbound* {
          auto it = by_tag.find(tag);
          return it == by_tag.end() ? nullptr : it->second;
        },
        sets);
  } catch (const std::invalid_argument& e) {
    throw config::ConfigError("", e.what());
  }
  if (options.dns) {
    // TLS contexts of DoT/DoH servers, hosts files, client subnets.
    dns::Client::Deps deps;
    deps.outbounds = [&by_tag](std::string_view tag) -> outbound::Outbound* {
      auto it = by_tag.find(tag);
      return it == by_tag.end() ? nullptr : it->second;
    };
    deps.resolver = resolver;
    deps.rule_sets = sets;
    try {
      dns::Client client(*options.dns, std::move(deps));
    } catch (const std::invalid_argument& e) {
      throw config::ConfigError("", e.what());
    }
  }
  for (std::size_t i = 0; i < options.inbounds.size(); ++i) {
    const auto* a = std::get_if<config::AnyTlsInboundOptions>(&options.inbounds[i].options);
    if (!a) continue;
    const std::string path = "inbounds[" + std::to_string(i) + "]";
    if (!a->padding_scheme.empty() && !proto::PaddingScheme::parse(a->padding_scheme))
      throw config::ConfigError(path + ".padding_scheme", "invalid padding scheme (it needs a stop=N line)");
    if (a->tls.enabled) {
      auto tls = tls::ServerContext::create(a->tls);
      if (!tls) throw_at(path + ".tls", tls.error().text());
    }
  }
  for (std::size_t i = 0; i < options.inbounds.size(); ++i) {
    const auto* m = std::get_if<config::MixedInboundOptions>(&options.inbounds[i].options);
    if (!m || !m->tls.enabled) continue;
    auto tls = tls::ServerContext::create(m->tls);
    if (!tls) throw_at("inbounds[" + std::to_string(i) + "].tls", tls.error().text());
  }
  for (auto& o : outbounds) o->stop();
}

}  // namespace anytls::app
