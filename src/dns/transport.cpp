#include "dns/transport.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <asio/this_coro.hpp>

#include "dns/message.hpp"
#include "net/coro.hpp"
#include "net/dialer.hpp"
#include "net/udp_conn.hpp"
#include "outbound/dial_options.hpp"
#include "outbound/direct.hpp"
#include "outbound/http_get.hpp"
#include "tls/client_connect.hpp"
#include "tls/conn_tls.hpp"
#include "tls/context.hpp"

namespace anytls::dns {
namespace {

// Answers made up here (local, hosts) live this long in caches.
constexpr std::uint32_t kLocalTtl = 60;
constexpr auto kTlsHandshakeTimeout = std::chrono::seconds(5);

net::Error fail(std::string text) { return net::Error{std::make_error_code(std::errc::protocol_error), std::move(text)}; }

asio::awaitable<std::error_code> read_exact(net::Conn& c, std::uint8_t* p, std::size_t n) {
  std::size_t got = 0;
  while (got < n) {
    auto [ec, k] = co_await c.read_some(asio::buffer(p + got, n - got));
    got += k;
    if (got < n && ec) co_return ec;
  }
  co_return std::error_code{};
}

// RFC 1035 4.2.2: a 2-byte length before each message.
asio::awaitable<net::Result<Bytes>> exchange_framed(net::Conn& conn, const Bytes& query, const std::string& where) {
  Bytes out;
  out.reserve(query.size() + 2);
  out.push_back(static_cast<std::uint8_t>(query.size() >> 8));
  out.push_back(static_cast<std::uint8_t>(query.size()));
  out.insert(out.end(), query.begin(), query.end());
  std::error_code ec = co_await conn.write(asio::buffer(out));
  if (ec) co_return net::Error{ec, where + ": write: " + ec.message()};
  std::uint8_t len[2];
  ec = co_await read_exact(conn, len, 2);
  if (ec) co_return net::Error{ec, where + ": read: " + ec.message()};
  std::size_t n = static_cast<std::size_t>(len[0] << 8 | len[1]);
  Bytes answer(n);
  ec = co_await read_exact(conn, answer.data(), n);
  if (ec) co_return net::Error{ec, where + ": read: " + ec.message()};
  co_return answer;
}

std::uint16_t id_of(const Bytes& b) { return b.size() >= 2 ? static_cast<std::uint16_t>(b[0] << 8 | b[1]) : 0; }

// Whether a datagram reported as coming from `from` is the server's: the
// same port, and the same IP (v4-mapped compared as v4) or, for a name the
// outbound sent to (through a detour, or resolved by the packet conn), the
// same name.
bool from_server(const net::Address& from, const net::Address& server) {
  if (from.port != server.port) return false;
  auto a = from.ip();
  auto b = server.ip();
  if (a && b) {
    auto unmap = [](const asio::ip::address& x) {
      if (!x.is_v6() || !x.to_v6().is_v4_mapped()) return x;
      return asio::ip::address(asio::ip::make_address_v4(asio::ip::v4_mapped, x.to_v6()));
    };
    return unmap(*a) == unmap(*b);
  }
  return !a && !b && same_name(from.host, server.host);
}

// udp and tcp: through an outbound (the detour, or a direct one).
class OutboundTransport final : public Transport {
 public:
  OutboundTransport(const config::DnsServerOptions& s, TransportDeps deps, std::unique_ptr<outbound::Outbound> own)
      : server_(s.server), port_(s.server_port), tcp_(s.type == "tcp"), deps_(std::move(deps)), own_(std::move(own)) {}

  asio::awaitable<net::Result<Bytes>> exchange(Bytes query) override {
    outbound::Outbound* out = deps_.detour ? deps_.detour : own_.get();
    outbound::Metadata md;
    md.inbound = "dns";
    md.inbound_type = "dns";
    md.network = tcp_ ? outbound::Network::tcp : outbound::Network::udp;
    md.destination = net::Address{server_, port_};
    // A name goes through the outbound as it is when a detour carries it
    // (the far end resolves it); the direct path resolves it here.
    if (md.destination.is_domain() && !deps_.detour && deps_.lookup) {
      auto op = deps_.lookup(server_);
      auto addrs = co_await std::move(op);
      if (!addrs) co_return addrs.error();
      md.destination.host = addrs->front().to_string();
    }
    const std::string where = std::string(tcp_ ? "tcp" : "udp") + " " + md.destination.to_string();
    if (tcp_) {
      auto conn = co_await out->dial(md);
      if (!conn) co_return conn.error();
      auto r = co_await exchange_framed(**conn, query, where);
      (*conn)->close();
      co_return r;
    }
    // A fresh socket per query: the kernel gives it a random ephemeral port
    // (RFC 6056), and the query a random id (Client). Direct to an IP, the
    // socket is connected to the server, so the kernel drops datagrams from
    // elsewhere before they take room in its queue; on every path, a
    // datagram is only taken from the server's address and port.
    auto pc = co_await out->listen_packet(md);
    if (!pc) co_return pc.error();
    auto& conn = **pc;
    if (auto* udp = dynamic_cast<net::UdpPacketConn*>(&conn); udp != nullptr && md.destination.ip()) {
      std::error_code cec = udp->connect_peer(*md.destination.ip(), md.destination.port);
      if (cec) {
        conn.close();
        co_return net::Error{cec, where + ": connect: " + cec.message()};
      }
    }
    std::error_code wec = co_await conn.write_packet(asio::buffer(query), md.destination);
    if (wec) {
      auto ec = wec;
      conn.close();
      co_return net::Error{ec, where + ": write: " + ec.message()};
    }
    Bytes buf(kMaxUdpMessage);
    // Datagrams that are not the answer (from another address, late answers
    // to earlier queries) are skipped; the client's deadline bounds the wait.
    for (;;) {
      net::Address from;
      auto [ec, n] = co_await conn.read_packet(asio::buffer(buf), from);
      if (ec) {
        conn.close();
        co_return net::Error{ec, where + ": read: " + ec.message()};
      }
      if (n >= 12 && id_of(buf) == id_of(query) && from_server(from, md.destination)) {
        buf.resize(n);
        conn.close();
        co_return buf;
      }
    }
  }

 private:
  std::string server_;
  std::uint16_t port_;
  bool tcp_;
  TransportDeps deps_;
  std::unique_ptr<outbound::Outbound> own_;
};

// tls (RFC 7858) and https (RFC 8484, POST with outbound/http_get's client), on a TCP
// connection of their own or over a stream of the detour outbound.
class TlsTransport final : public Transport {
 public:
  TlsTransport(const config::DnsServerOptions& s, net::Dialer dialer, std::shared_ptr<tls::ClientContext> ctx,
               outbound::Outbound* detour)
      : server_(s.server), port_(s.server_port), path_(s.path), https_(s.type == "https"),
        dialer_(std::move(dialer)), ctx_(std::move(ctx)), detour_(detour) {}

  asio::awaitable<net::Result<Bytes>> exchange(Bytes query) override {
    net::Address dst{server_, port_};
    // The call outside any branch (GCC 12: no co_await in a branch).
    auto op = detour_ ? connect_detour(dst) : connect_direct(dst);
    auto conn = co_await std::move(op);
    if (!conn) co_return conn.error();
    const std::string where = (https_ ? "https " : "tls ") + dst.to_string();
    if (!https_) {
      auto r = co_await exchange_framed(**conn, query, where);
      (*conn)->close();
      co_return r;
    }
    auto r = co_await post(**conn, query);
    (*conn)->close();
    co_return r;
  }

 private:
  // RFC 8484 POST with the one HTTP client, on the connection this server's
  // own dial and TLS options opened (Connection: close, one query each).
  asio::awaitable<net::Result<Bytes>> post(net::Conn& conn, const Bytes& query) {
    outbound::HttpRequest request = doh_request(query);
    outbound::HttpLimits limits;
    limits.who = "dns";
    auto posting = outbound::http_request_over(conn, std::move(request), kMaxMessage, std::move(limits));
    auto got = co_await std::move(posting);
    if (!got) co_return got.error();
    co_return Bytes(got->body.begin(), got->body.end());
  }

  outbound::HttpRequest doh_request(const Bytes& query) const {
    std::string authority = net::Address{server_, port_}.is_domain() || server_.find(':') == std::string::npos
                                ? server_
                                : "[" + server_ + "]";
    if (port_ != 443) authority += ":" + std::to_string(port_);
    outbound::HttpRequest request;
    request.method = "POST";
    request.url = "https://" + authority + path_;
    request.headers.push_back(http::Field{"Content-Type", "application/dns-message"});
    request.headers.push_back(http::Field{"Accept", "application/dns-message"});
    request.body.assign(query.begin(), query.end());
    return request;
  }

  asio::awaitable<net::Result<std::unique_ptr<net::Conn>>> connect_direct(net::Address dst) {
    auto sock = co_await dialer_.dial_tcp(dst);
    if (!sock) co_return sock.error();
    co_return co_await tls::client_handshake(ctx_, std::move(*sock), dst.to_string(), kTlsHandshakeTimeout, nullptr);
  }

  // TLS over a stream of the detour outbound (e.g. DoH through the tunnel).
  asio::awaitable<net::Result<std::unique_ptr<net::Conn>>> connect_detour(net::Address dst) {
    outbound::Metadata md;
    md.inbound = "dns";
    md.inbound_type = "dns";
    md.network = outbound::Network::tcp;
    md.destination = dst;
    auto inner = co_await detour_->dial(md);
    if (!inner) co_return inner.error();
    co_return co_await tls::client_handshake_over(ctx_, std::move(*inner), dst.to_string(), kTlsHandshakeTimeout,
                                                  nullptr);
  }

  std::string server_;
  std::uint16_t port_;
  std::string path_;
  bool https_;
  net::Dialer dialer_;
  std::shared_ptr<tls::ClientContext> ctx_;
  outbound::Outbound* detour_;
};

// Answers A/AAAA from a table of addresses; `miss` for names not in it.
Bytes answer_from(const Message& q, const std::vector<asio::ip::address>& addrs, bool known) {
  Message reply = make_reply(q, known ? rcode::noerror : rcode::nxdomain);
  const auto& qq = q.questions.front();
  for (const auto& a : addrs) {
    if (qq.type == type::a && a.is_v4()) {
      auto b = a.to_v4().to_bytes();
      reply.answers.push_back(address_record(qq.name, b, kLocalTtl));
    } else if (qq.type == type::aaaa && a.is_v6()) {
      auto b = a.to_v6().to_bytes();
      reply.answers.push_back(address_record(qq.name, b, kLocalTtl));
    }
  }
  return encode(reply).value_or(Bytes{});
}

class LocalTransport final : public Transport {
 public:
  explicit LocalTransport(std::shared_ptr<net::Resolver> r) : resolver_(std::move(r)) {}
  asio::awaitable<net::Result<Bytes>> exchange(Bytes query) override {
    auto q = parse(query);
    if (!q || q->questions.size() != 1) co_return fail("local: malformed query");
    const auto& qq = q->questions.front();
    // getaddrinfo answers addresses only: other types get an empty answer.
    if (qq.type != type::a && qq.type != type::aaaa) co_return encode(make_reply(*q, rcode::noerror)).value_or(Bytes{});
    auto addrs = co_await resolver_->lookup(qq.name);
    if (!addrs) co_return answer_from(*q, {}, false);
    co_return answer_from(*q, *addrs, true);
  }

 private:
  std::shared_ptr<net::Resolver> resolver_;
};

class HostsTransport final : public Transport {
 public:
  using Table = std::vector<std::pair<std::string, std::vector<asio::ip::address>>>;
  explicit HostsTransport(Table t) : table_(std::move(t)) {}
  asio::awaitable<net::Result<Bytes>> exchange(Bytes query) override {
    auto q = parse(query);
    if (!q || q->questions.size() != 1) co_return fail("hosts: malformed query");
    for (const auto& [name, addrs] : table_)
      if (same_name(name, q->questions.front().name)) co_return answer_from(*q, addrs, true);
    co_return answer_from(*q, {}, false);
  }

 private:
  Table table_;
};

class RcodeTransport final : public Transport {
 public:
  explicit RcodeTransport(std::uint8_t rc) : rcode_(rc) {}
  asio::awaitable<net::Result<Bytes>> exchange(Bytes query) override {
    auto q = parse(query);
    if (!q) co_return fail("rcode: malformed query");
    co_return encode(make_reply(*q, rcode_)).value_or(Bytes{});
  }

 private:
  std::uint8_t rcode_;
};

// type fakeip: A and AAAA answered from the fakeip table, TTL 600 as
// sing-box gives; other types are not its business.
class FakeIpTransport final : public Transport {
 public:
  explicit FakeIpTransport(std::shared_ptr<FakeIpStore> store) : store_(std::move(store)) {}
  asio::awaitable<net::Result<Bytes>> exchange(Bytes query) override {
    auto q = parse(query);
    if (!q || q->questions.size() != 1) co_return fail("fakeip: malformed query");
    const auto& qq = q->questions.front();
    if (qq.type != type::a && qq.type != type::aaaa) co_return fail("fakeip: only IP queries are supported by fakeip");
    std::string name = qq.name;
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    while (!name.empty() && name.back() == '.') name.pop_back();
    auto address = store_->create(name, qq.type == type::aaaa);
    Message reply = make_reply(*q, rcode::noerror);
    if (address && address->is_v4()) reply.answers.push_back(address_record(qq.name, address->to_v4().to_bytes(), kFakeIpTtl));
    if (address && address->is_v6()) reply.answers.push_back(address_record(qq.name, address->to_v6().to_bytes(), kFakeIpTtl));
    co_return encode(reply).value_or(Bytes{});
  }

 private:
  static constexpr std::uint32_t kFakeIpTtl = 600;
  std::shared_ptr<FakeIpStore> store_;
};

}  // namespace

void parse_hosts(std::string_view text, std::vector<std::pair<std::string, std::vector<asio::ip::address>>>& table) {
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    if (auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    std::istringstream words(line);
    std::string addr_text, name;
    if (!(words >> addr_text)) continue;
    std::error_code ec;
    auto addr = asio::ip::make_address(addr_text, ec);
    if (ec) continue;
    while (words >> name) {
      auto it = std::find_if(table.begin(), table.end(), [&](const auto& e) { return same_name(e.first, name); });
      if (it == table.end()) table.emplace_back(name, std::vector<asio::ip::address>{addr});
      else if (std::find(it->second.begin(), it->second.end(), addr) == it->second.end()) it->second.push_back(addr);
    }
  }
}

std::unique_ptr<Transport> make_transport(const config::DnsServerOptions& s, const std::string& path,
                                          TransportDeps deps) {
  if (s.type == "local") return std::make_unique<LocalTransport>(deps.resolver);
  if (s.type == "rcode") return std::make_unique<RcodeTransport>(s.rcode);
  if (s.type == "fakeip") {
    if (!deps.fakeip) throw std::invalid_argument(path + ": fakeip server without its table");
    return std::make_unique<FakeIpTransport>(deps.fakeip);
  }
  if (s.type == "hosts") {
    HostsTransport::Table table;
    for (const auto& [name, ips] : s.predefined) {
      std::vector<asio::ip::address> addrs;
      for (const auto& ip : ips) addrs.push_back(asio::ip::make_address(ip));
      table.emplace_back(name, std::move(addrs));
    }
    std::vector<std::string> files = s.hosts_path;
    if (files.empty() && s.predefined.empty()) files.push_back("/etc/hosts");
    for (std::size_t i = 0; i < files.size(); ++i) {
      std::ifstream f(files[i]);
      if (!f) throw std::invalid_argument(path + ".path: cannot read " + files[i]);
      std::stringstream ss;
      ss << f.rdbuf();
      parse_hosts(ss.str(), table);
    }
    return std::make_unique<HostsTransport>(std::move(table));
  }
  net::DialerOptions dopts = outbound::make_dialer_options(s.dial);
  dopts.lookup = deps.lookup;
  if (dopts.bind_interface.empty()) dopts.bind_interface = deps.default_interface;
  if (dopts.bind_interface.empty()) dopts.default_interface = deps.auto_interface;
  if (dopts.routing_mark == 0 && deps.default_mark != 0) {
    dopts.routing_mark = deps.default_mark;
    dopts.mark_best_effort = true;
  }
  net::Dialer dialer(std::move(dopts), deps.resolver);
  if (s.type == "udp" || s.type == "tcp") {
    std::unique_ptr<outbound::Outbound> own;
    if (!deps.detour) own = std::make_unique<outbound::DirectOutbound>("dns-direct", dialer);
    return std::make_unique<OutboundTransport>(s, std::move(deps), std::move(own));
  }
  if (s.type == "tls" || s.type == "https") {
    config::OutboundTlsOptions t = s.tls;
    t.enabled = true;
    if (s.type == "https" && t.alpn.empty()) t.alpn = {"http/1.1"};
    auto ctx = tls::ClientContext::create(t, s.server);
    if (!ctx) throw std::invalid_argument(path + ".tls: " + ctx.error().text());
    if (deps.detour && (*ctx)->utls()) throw std::invalid_argument(path + ".tls.utls: not supported with detour");
    return std::make_unique<TlsTransport>(s, std::move(dialer), *ctx, deps.detour);
  }
  throw std::invalid_argument(path + ".type: unsupported DNS server type " + s.type);
}

}  // namespace anytls::dns
