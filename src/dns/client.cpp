#include "dns/client.hpp"

#include "net/workers.hpp"

#include <sys/random.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <set>
#include <stdexcept>
#include <system_error>

#include <asio/experimental/awaitable_operators.hpp>
#include <spdlog/spdlog.h>

#include "net/coro.hpp"
#include "net/hostname.hpp"

namespace anytls::dns {

using namespace asio::experimental::awaitable_operators;

struct Client::Server {
  config::DnsServerOptions options;
  std::unique_ptr<Transport> transport;
  std::shared_ptr<FakeIpStore> fakeip;  // type fakeip: its table
};

struct Client::Rule {
  route::RuleMatcher matcher;
  config::DnsRule rule;
  Server* server = nullptr;
  std::optional<ClientSubnet> subnet;
};

namespace {

// A query id an off-path host cannot predict (RFC 5452): from the kernel's
// CSPRNG, not a seeded generator whose later outputs follow from the ids it
// has already sent (an upstream server the attacker runs sees them).
// Batched: one getrandom() per 64 ids.
std::uint16_t random_id() {
  thread_local std::array<std::uint16_t, 64> pool{};
  thread_local std::size_t left = 0;
  if (left == 0) {
    std::size_t got = 0;
    auto* p = reinterpret_cast<unsigned char*>(pool.data());
    while (got < sizeof pool) {
      ssize_t n = ::getrandom(p + got, sizeof pool - got, 0);
      if (n > 0) got += static_cast<std::size_t>(n);
      else if (errno != EINTR) throw std::system_error(errno, std::generic_category(), "getrandom");
    }
    left = pool.size();
  }
  return pool[--left];
}

net::Error lookup_error(const std::string& host, std::string why) {
  return net::Error{asio::error::host_not_found, "lookup " + net::printable_name(host) + ": " + std::move(why)};
}

std::optional<Bytes> reply_bytes(const Message& query, std::uint8_t rc) { return encode(make_reply(query, rc)); }

}  // namespace

std::optional<ClientSubnet> parse_client_subnet(std::string_view text) {
  auto p = route::Prefix::parse(text);
  if (!p) return std::nullopt;
  ClientSubnet s;
  s.v6 = p->network.is_v6();
  s.prefix = static_cast<std::uint8_t>(p->bits);
  if (s.v6) {
    auto b = p->network.to_v6().to_bytes();
    std::copy(b.begin(), b.end(), s.address.begin());
  } else {
    auto b = p->network.to_v4().to_bytes();
    std::copy(b.begin(), b.end(), s.address.begin());
  }
  return s;
}

Client::Client(const config::DnsOptions& options, Deps deps)
    : options_(options), deps_(std::move(deps)),
      cache_(options.cache_capacity, static_cast<std::size_t>(options.cache_max_bytes), options.disable_expire,
             deps_.clock) {
  if (!deps_.resolver) deps_.resolver = std::make_shared<net::Resolver>();
  if (!options_.client_subnet.empty()) {
    subnet_ = parse_client_subnet(options_.client_subnet);
    if (!subnet_) throw std::invalid_argument("dns.client_subnet: invalid prefix " + options_.client_subnet);
  }
  for (std::size_t i = 0; i < options_.servers.size(); ++i) {
    const auto& s = options_.servers[i];
    const std::string path = "dns.servers[" + std::to_string(i) + "]";
    // domain_resolver chains must end.
    std::set<std::string> seen{s.tag};
    for (std::string next = s.dial.domain_resolver; !next.empty();) {
      if (!seen.insert(next).second) throw std::invalid_argument(path + ".domain_resolver: a cycle of domain_resolver through " + next);
      auto it = std::find_if(options_.servers.begin(), options_.servers.end(), [&](const auto& o) { return o.tag == next; });
      if (it == options_.servers.end()) throw std::invalid_argument(path + ".domain_resolver: unknown DNS server " + next);
      next = it->dial.domain_resolver;
    }
    TransportDeps td;
    td.resolver = deps_.resolver;
    td.default_interface = deps_.default_interface;
    td.default_mark = deps_.default_mark;
    td.auto_interface = deps_.auto_interface;
    if (!s.dial.detour.empty()) {
      td.detour = deps_.outbounds ? deps_.outbounds(s.dial.detour) : nullptr;
      if (!td.detour) throw std::invalid_argument(path + ".detour: outbound not found: " + s.dial.detour);
    }
    if (!s.dial.domain_resolver.empty()) td.lookup = resolver_for(s.dial.domain_resolver, s.dial.domain_resolver_strategy);
    auto server = std::make_unique<Server>();
    server->options = s;
    if (s.type == "fakeip") {
      auto range = [&](const std::string& text, const char* key) -> std::optional<FakeIpRange> {
        if (text.empty()) return std::nullopt;
        auto r = parse_fakeip_range(text);
        if (!r) throw std::invalid_argument(path + "." + key + ": invalid range " + text);
        return r;
      };
      auto inet4 = range(s.inet4_range, "inet4_range");
      auto inet6 = range(s.inet6_range, "inet6_range");
      server->fakeip = deps_.fakeip_tables
                           ? deps_.fakeip_tables->table(s.tag, s.inet4_range, inet4, s.inet6_range, inet6)
                           : std::make_shared<FakeIpStore>(inet4, inet6);
      td.fakeip = server->fakeip;
    }
    server->transport = make_transport(s, path, std::move(td));
    servers_.push_back(std::move(server));
  }
  if (servers_.empty()) {
    // A dns block without servers: the system resolver, as sing-box does.
    auto server = std::make_unique<Server>();
    server->options.type = "local";
    server->options.tag = "local";
    TransportDeps td;
    td.resolver = deps_.resolver;
    server->transport = make_transport(server->options, "dns", std::move(td));
    servers_.push_back(std::move(server));
  }
  final_ = options_.final.empty() ? servers_.front().get() : find(options_.final);
  if (!final_) throw std::invalid_argument("dns.final: unknown DNS server " + options_.final);
  if (final_->fakeip)
    throw std::invalid_argument(std::string(options_.final.empty() ? "dns.servers[0]" : "dns.final") +
                                ": the default DNS server cannot be fakeip (names looked up to dial need real "
                                "addresses); route A/AAAA queries to it with a dns rule");
  for (std::size_t i = 0; i < options_.rules.size(); ++i) {
    const auto& r = options_.rules[i];
    const std::string path = "dns.rules[" + std::to_string(i) + "]";
    Rule rule{route::RuleMatcher(r.match, path, deps_.rule_sets.get()), r, nullptr, std::nullopt};
    if (r.action == config::DnsRuleAction::route) {
      rule.server = find(r.server);
      if (!rule.server) throw std::invalid_argument(path + ".server: unknown DNS server " + r.server);
    }
    if (r.client_subnet && !r.client_subnet->empty()) {
      rule.subnet = parse_client_subnet(*r.client_subnet);
      if (!rule.subnet) throw std::invalid_argument(path + ".client_subnet: invalid prefix " + *r.client_subnet);
    }
    rules_.push_back(std::move(rule));
  }
}

Client::~Client() = default;

Client::Server* Client::find(std::string_view tag) const {
  for (const auto& s : servers_)
    if (s->options.tag == tag) return s.get();
  return nullptr;
}

Client::Choice Client::choose(const Question& q, const outbound::Metadata& md, bool allow_fakeip) const {
  outbound::Metadata m = md;
  m.destination = net::Address{q.name, md.destination.port};
  const bool lookup = !allow_fakeip;  // a name an outbound looks up to dial
  // What route-options rules set on the way.
  bool disable_cache = false;
  std::optional<ClientSubnet> subnet;
  std::optional<std::uint32_t> rewrite_ttl;
  for (const auto& r : rules_) {
    if (!allow_fakeip && r.server && r.server->fakeip) continue;
    if (r.rule.outbound_any && !lookup) continue;
    if (!r.rule.query_type.empty() &&
        std::find(r.rule.query_type.begin(), r.rule.query_type.end(), q.type) == r.rule.query_type.end())
      continue;
    if (!r.matcher.matches(m)) continue;
    if (r.rule.action == config::DnsRuleAction::reject)
      return Choice{nullptr, r.rule.method == config::RejectMethod::drop, false, std::nullopt};
    if (r.rule.action == config::DnsRuleAction::route_options) {
      disable_cache = disable_cache || r.rule.disable_cache;
      if (r.subnet) subnet = r.subnet;
      if (r.rule.rewrite_ttl) rewrite_ttl = r.rule.rewrite_ttl;
      continue;
    }
    Choice c{r.server, false, disable_cache || r.rule.disable_cache, r.subnet ? r.subnet : subnet};
    c.strategy = r.rule.strategy;
    c.rewrite_ttl = r.rule.rewrite_ttl ? r.rule.rewrite_ttl : rewrite_ttl;
    if (!c.subnet && !r.server->options.client_subnet.empty()) c.subnet = parse_client_subnet(r.server->options.client_subnet);
    if (!c.subnet) c.subnet = subnet_;
    return c;
  }
  Choice c{final_, false, disable_cache, subnet};
  c.rewrite_ttl = rewrite_ttl;
  if (!c.subnet && !final_->options.client_subnet.empty()) c.subnet = parse_client_subnet(final_->options.client_subnet);
  if (!c.subnet) c.subnet = subnet_;
  return c;
}

asio::awaitable<net::Result<Bytes>> Client::resolve(Message q, Choice choice) {
  Server& s = *choice.server;
  const Question question = q.questions.front();
  const std::string key = Cache::key(question, options_.independent_cache ? s.options.tag : "");
  // A fake address is the table's to give: never from the cache.
  const bool cacheable = !options_.disable_cache && !choice.disable_cache && !s.fakeip;
  if (cacheable) {
    if (auto hit = cache_.get(key, q.id)) co_return std::move(*hit);
  }
  Message up = q;
  up.id = random_id();
  if (choice.subnet) set_client_subnet(up, *choice.subnet);
  auto wire = encode(up);
  if (!wire) co_return net::Error{std::make_error_code(std::errc::invalid_argument), "dns: cannot encode the query for " + question.name};
  ++upstream_queries_;
  spdlog::debug("dns: {} {} -> {}[{}]", question.name, type_name(question.type), s.options.type, s.options.tag);
  auto r = co_await (s.transport->exchange(std::move(*wire)) || net::sleep_for(deps_.timeout));
  if (r.index() == 1)
    co_return net::Error{asio::error::timed_out, "exchange with DNS server " + s.options.tag + ": i/o timeout"};
  auto& got = std::get<0>(r);
  if (!got) co_return net::Error{got.error().code, "exchange with DNS server " + s.options.tag + ": " + got.error().text()};
  Bytes answer = std::move(*got);
  // One DNS message at most, whatever the transport let through (a DoH body
  // is bounded with its headers).
  if (answer.size() > kMaxMessage)
    co_return net::Error{std::make_error_code(std::errc::protocol_error),
                         "DNS server " + s.options.tag + ": answer larger than one DNS message"};
  std::string why;
  auto parsed = parse(answer, &why);
  if (!parsed) co_return net::Error{std::make_error_code(std::errc::protocol_error), "DNS server " + s.options.tag + ": bad answer: " + why};
  if (!parsed->response() || parsed->id != up.id || parsed->questions.size() != 1 ||
      !same_name(parsed->questions.front().name, question.name) || parsed->questions.front().type != question.type)
    co_return net::Error{std::make_error_code(std::errc::protocol_error), "DNS server " + s.options.tag + ": answer does not match the query"};
  set_id(answer, q.id);
  if (cacheable && (parsed->rcode() == rcode::noerror || parsed->rcode() == rcode::nxdomain)) cache_.put(key, answer, *parsed);
  co_return answer;
}

asio::awaitable<net::Result<std::optional<Bytes>>> Client::exchange(std::span<const std::uint8_t> query,
                                                                    const outbound::Metadata& md) {
  auto q = parse(query);
  if (!q || q->response() || q->questions.size() != 1) {
    if (query.size() < 2) co_return net::Error{std::make_error_code(std::errc::protocol_error), "dns: malformed query"};
    Message m;
    m.id = static_cast<std::uint16_t>(query[0] << 8 | query[1]);
    m.flags = flag::qr;
    m.set_rcode(rcode::formerr);
    co_return encode(m);
  }
  Choice choice = choose(q->questions.front(), md);
  if (!choice.server) {
    if (choice.drop) co_return std::optional<Bytes>{};
    co_return reply_bytes(*q, rcode::refused);
  }
  auto st = choice.strategy;
  if (st == config::DomainStrategy::as_is) st = choice.server->options.strategy;
  if (st == config::DomainStrategy::as_is) st = options_.strategy;
  std::uint16_t qt = q->questions.front().type;
  if ((st == config::DomainStrategy::ipv4_only && qt == type::aaaa) ||
      (st == config::DomainStrategy::ipv6_only && qt == type::a))
    co_return reply_bytes(*q, rcode::noerror);
  auto r = co_await resolve(*q, choice);
  if (!r) {
    spdlog::debug("dns: {}: {}", q->questions.front().name, r.error().text());
    co_return reply_bytes(*q, rcode::servfail);
  }
  if (choice.rewrite_ttl) {
    // resolve() checked the answer parses.
    if (auto parsed = parse(*r)) set_ttls(*r, *parsed, *choice.rewrite_ttl);
  }
  co_return std::optional<Bytes>(std::move(*r));
}

std::optional<std::string> Client::fake_name(const asio::ip::address& address) const {
  for (const auto& s : servers_) {
    if (!s->fakeip || !s->fakeip->contains(address)) continue;
    return s->fakeip->lookup(address).value_or(std::string());
  }
  return std::nullopt;
}

void Client::reset_fakeip() {
  for (const auto& s : servers_)
    if (s->fakeip) s->fakeip->reset();
}

bool Client::at_home() const { return !deps_.home || deps_.home->get_executor().running_in_this_thread(); }

asio::awaitable<net::Result<std::optional<Bytes>>> Client::answer(std::span<const std::uint8_t> query,
                                                                  const outbound::Metadata& md) {
  if (at_home()) co_return co_await exchange(query, md);
  // The query and md stay alive: the caller waits for the answer.
  auto op = exchange(query, md);
  co_return co_await net::run_on(deps_.home->get_executor(), std::move(op));
}

asio::awaitable<net::Result<std::vector<asio::ip::address>>> Client::lookup(std::string host, std::string server,
                                                                            config::DomainStrategy strategy) {
  if (at_home()) co_return co_await lookup_here(std::move(host), std::move(server), strategy);
  auto op = lookup_here(std::move(host), std::move(server), strategy);
  co_return co_await net::run_on(deps_.home->get_executor(), std::move(op));
}

asio::awaitable<net::Result<std::vector<asio::ip::address>>> Client::lookup_here(std::string host, std::string server,
                                                                                 config::DomainStrategy strategy) {
  std::error_code ec;
  auto literal = asio::ip::make_address(host, ec);
  if (!ec) co_return std::vector<asio::ip::address>{literal};
  // Before the rules see it, and before any server (the local one reaches
  // getaddrinfo).
  const auto problem = net::hostname_problem(host);
  if (problem) co_return lookup_error(host, "invalid host name: " + *problem);
  Choice choice;
  if (!server.empty()) {
    choice.server = find(server);
    if (!choice.server) co_return lookup_error(host, "unknown DNS server " + server);
    if (choice.server->fakeip) co_return lookup_error(host, "DNS server " + server + " is fakeip: no real address to dial");
    choice.subnet = subnet_;
  } else {
    choice = choose(Question{host, type::a, kClassIn}, outbound::Metadata{}, false);
    if (!choice.server) co_return lookup_error(host, "rejected by DNS rule");
  }
  if (strategy == config::DomainStrategy::as_is) strategy = choice.strategy;
  if (strategy == config::DomainStrategy::as_is) strategy = choice.server->options.strategy;
  if (strategy == config::DomainStrategy::as_is) strategy = options_.strategy;
  std::vector<std::uint16_t> types;
  if (strategy != config::DomainStrategy::ipv6_only) types.push_back(type::a);
  if (strategy != config::DomainStrategy::ipv4_only) types.push_back(type::aaaa);
  if (strategy == config::DomainStrategy::prefer_ipv6) std::reverse(types.begin(), types.end());
  std::vector<asio::ip::address> out;
  bool nxdomain = false;
  std::optional<net::Error> first_error;
  for (std::uint16_t t : types) {
    auto op = resolve(make_query(random_id(), host, t), choice);
    auto r = co_await std::move(op);
    if (!r) {
      if (!first_error) first_error = r.error();
      continue;
    }
    auto m = parse(*r);
    if (!m) continue;
    if (m->rcode() == rcode::nxdomain) nxdomain = true;
    for (const auto& rec : m->answers) {
      if (rec.type == type::a && rec.data.size() == 4) {
        asio::ip::address_v4::bytes_type b;
        std::copy(rec.data.begin(), rec.data.end(), b.begin());
        out.emplace_back(asio::ip::address_v4(b));
      } else if (rec.type == type::aaaa && rec.data.size() == 16) {
        asio::ip::address_v6::bytes_type b;
        std::copy(rec.data.begin(), rec.data.end(), b.begin());
        out.emplace_back(asio::ip::address_v6(b));
      }
    }
  }
  if (!out.empty()) co_return out;
  if (nxdomain) co_return lookup_error(host, "no such host");
  if (first_error) co_return lookup_error(host, first_error->text());
  co_return lookup_error(host, "no suitable address found");
}

namespace {
// Not a coroutine: forwards to the member coroutine, whose parameters are
// copied into its frame.
struct BoundLookup {
  Client* client;
  std::string server;
  config::DomainStrategy strategy;
  asio::awaitable<net::Result<std::vector<asio::ip::address>>> operator()(const std::string& host) const {
    return client->lookup(host, server, strategy);
  }
};
}  // namespace

NameLookup Client::resolver_for(std::string server, config::DomainStrategy strategy) {
  return BoundLookup{this, std::move(server), strategy};
}

}  // namespace anytls::dns
