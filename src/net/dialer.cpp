#include "net/dialer.hpp"
#include "net/stream_socket.hpp"
#include "net/hostname.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <utility>

#include <asio/error.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/ip/v6_only.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

namespace anytls::net {

using asio::ip::tcp;
using asio::ip::udp;

namespace {

constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);
constexpr Duration kDefaultFallbackDelay = std::chrono::milliseconds(300);

std::string endpoint_text(const asio::ip::address& a, std::uint16_t port) {
  return Address{a.to_string(), port}.to_string();
}

asio::ip::address unmap(const asio::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped())
    return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
  return a;
}

// setsockopt with an int value; errno as an error_code.
std::error_code set_int_option(int fd, int level, int name, int value) {
  if (::setsockopt(fd, level, name, &value, sizeof(value)) != 0)
    return std::error_code(errno, std::system_category());
  return {};
}

int clamp_seconds(Duration d) {
  auto s = std::chrono::duration_cast<std::chrono::seconds>(d).count();
  if (s < 1) s = 1;
  if (s > 32767) s = 32767;  // Linux's MAX_TCP_KEEPIDLE / KEEPINTVL
  return static_cast<int>(s);
}

// An operation name ("bind", "setsockopt") and its error.
struct SocketError {
  const char* op = nullptr;
  std::error_code ec;
  explicit operator bool() const { return static_cast<bool>(ec); }
};

// Options that must precede bind/connect, common to TCP and UDP.
// SO_BINDTOIFINDEX (Linux 5.0) by index: no name lookup per dial; the name
// where the kernel predates it.
std::error_code bind_to_default_interface(int fd, const DefaultInterface& d) {
  int index = d.index();
  if (index == 0) return {};
  auto ec = set_int_option(fd, SOL_SOCKET, SO_BINDTOIFINDEX, index);
  if (ec != std::errc::no_protocol_option) return ec;
  auto name = d.name();
  if (::setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, name.data(), static_cast<socklen_t>(name.size())) != 0)
    return {errno, std::system_category()};
  return {};
}

// `loopback`: the destination is this host, which a socket bound to the
// default interface could not reach.
template <class Socket>
SocketError prepare_socket(Socket& s, bool v6, const DialerOptions& o, bool loopback = false) {
  int fd = s.native_handle();
  if (o.reuse_addr) {
    if (auto ec = set_int_option(fd, SOL_SOCKET, SO_REUSEADDR, 1)) return {"setsockopt", ec};
  }
  if (!o.bind_interface.empty()) {
    if (::setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, o.bind_interface.data(),
                     static_cast<socklen_t>(o.bind_interface.size())) != 0)
      return {"setsockopt", std::error_code(errno, std::system_category())};
  } else if (o.default_interface && !loopback) {
    if (auto ec = bind_to_default_interface(fd, *o.default_interface)) return {"setsockopt", ec};
  }
  if (o.routing_mark != 0) {
    if (auto ec = set_int_option(fd, SOL_SOCKET, SO_MARK, static_cast<int>(o.routing_mark))) {
      // route.default_mark: set when we may (CAP_NET_ADMIN), said once when not.
      if (!o.mark_best_effort) return {"setsockopt", ec};
      static std::atomic<bool> warned{false};
      if (!warned.exchange(true))
        spdlog::warn("route.default_mark: SO_MARK refused ({}); connections go unmarked (it needs CAP_NET_ADMIN)",
                     ec.message());
    }
  }
  std::error_code ec;
  if (!v6 && o.inet4_bind_address) {
    s.bind(typename Socket::endpoint_type(*o.inet4_bind_address, 0), ec);
    if (ec) return {"bind", ec};
  } else if (v6 && o.inet6_bind_address) {
    s.bind(typename Socket::endpoint_type(*o.inet6_bind_address, 0), ec);
    if (ec) return {"bind", ec};
  }
  return {};
}

void apply_after_connect(tcp::socket& s, const DialerOptions& o) {
  // Best effort, as Go does: a failure here does not fail the dial.
  int fd = s.native_handle();
  set_int_option(fd, IPPROTO_TCP, TCP_NODELAY, 1);
  if (o.disable_tcp_keep_alive) return;
  set_int_option(fd, SOL_SOCKET, SO_KEEPALIVE, 1);
  set_int_option(fd, IPPROTO_TCP, TCP_KEEPIDLE, clamp_seconds(o.tcp_keep_alive));
  set_int_option(fd, IPPROTO_TCP, TCP_KEEPINTVL, clamp_seconds(o.tcp_keep_alive_interval));
}

asio::awaitable<bool> cancelled() {
  auto state = co_await asio::this_coro::cancellation_state;
  co_return state.cancelled() != asio::cancellation_type::none;
}

}  // namespace

std::string go_error_text(const std::error_code& ec) {
  if (ec == asio::error::operation_aborted) return "operation was canceled";
  if (ec == asio::error::eof) return "EOF";
  if (ec == asio::error::host_not_found) return "no such host";
  std::string m = ec.message();
  if (m.size() >= 2 && std::isupper(static_cast<unsigned char>(m[0])) &&
      std::islower(static_cast<unsigned char>(m[1])))
    m[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(m[0])));
  return m;
}

struct Dialer::Impl {
  DialerOptions options;
  std::shared_ptr<Resolver> resolver;
  DialerHooks hooks;
};

namespace {

using ImplPtr = std::shared_ptr<const Dialer::Impl>;

// State shared by the branches of one dial_tcp.
struct Race {
  Race(asio::any_io_executor ex, ImplPtr d, Address dest)
      : dialer(std::move(d)),
        destination(std::move(dest)),
        fallback_go(ex, asio::steady_timer::time_point::max()) {}

  ImplPtr dialer;
  Address destination;
  std::optional<tcp::socket> winner;
  std::optional<Error> error;        // set when every attempt failed (or the lookup did)
  bool resolving = true;
  bool timed_out = false;
  bool timed_out_resolving = false;  // the deadline hit during the lookup
  bool over = false;                 // winner found or deadline hit: stop everything
  std::string primary_current;       // "ip:port" being attempted, for timeout texts
  std::string fallback_current;
  bool primary_failed = false;
  bool fallback_failed = false;
  std::optional<Error> primary_error;
  std::optional<Error> fallback_error;
  asio::steady_timer fallback_go;    // cancelled when the primary family has failed

  void win(tcp::socket s) {
    over = true;
    if (!winner) winner.emplace(std::move(s));
    // else: a simultaneous second success; s is closed when it goes away
  }
};
using RacePtr = std::shared_ptr<Race>;

// One connection attempt to one endpoint.
asio::awaitable<Result<tcp::socket>> attempt(ImplPtr d, tcp::endpoint ep) {
  auto ex = co_await asio::this_coro::executor;
  const std::string where = "dial tcp " + endpoint_text(ep.address(), ep.port()) + ": ";
  tcp::socket s(ex);
  std::error_code ec;
  open_stream_socket(s, ep, d->options.tcp_multi_path, ec);
  if (ec) co_return Error{ec, where + "socket: " + go_error_text(ec)};
  const bool loopback = unmap(ep.address()).is_loopback();
  if (auto err = prepare_socket(s, ep.address().is_v6(), d->options, loopback))
    co_return Error{err.ec, where + err.op + ": " + go_error_text(err.ec)};
  if (d->options.tcp_fast_open) {
#ifdef TCP_FASTOPEN_CONNECT
    set_int_option(s.native_handle(), IPPROTO_TCP, TCP_FASTOPEN_CONNECT, 1);
#endif
  }
  if (d->hooks.connect) {
    ec = co_await d->hooks.connect(s, ep);
  } else {
    auto [cec] = co_await s.async_connect(ep, use_tuple);
    ec = cec;
  }
  if (ec) co_return Error{ec, where + "connect: " + go_error_text(ec)};
  apply_after_connect(s, d->options);
  co_return std::move(s);
}

// Tries addresses one after the other (Go's dialSerial); the first error is
// the one reported.
asio::awaitable<Result<tcp::socket>> dial_serial(RacePtr r, std::vector<asio::ip::address> addrs,
                                                 std::string* current) {
  std::optional<Error> first_error;
  for (const auto& a : addrs) {
    if (r->over || co_await cancelled()) break;
    *current = endpoint_text(a, r->destination.port);
    auto res = co_await attempt(r->dialer, tcp::endpoint(a, r->destination.port));
    if (res) co_return std::move(res);
    if (!first_error) first_error = res.error();
  }
  if (!first_error)
    first_error = Error{asio::error::operation_aborted,
                        "dial tcp " + r->destination.to_string() + ": operation was canceled"};
  co_return *first_error;
}

// Parks a branch that has failed while the other one still runs; the `||`
// cancels the wait when the other branch completes.
asio::awaitable<void> park() {
  asio::steady_timer t(co_await asio::this_coro::executor, asio::steady_timer::time_point::max());
  co_await t.async_wait(use_tuple);
}

asio::awaitable<void> primary_branch(RacePtr r, std::vector<asio::ip::address> addrs) {
  auto res = co_await dial_serial(r, std::move(addrs), &r->primary_current);
  if (res) {
    r->win(std::move(res.value()));
    co_return;
  }
  r->primary_error = res.error();
  r->primary_failed = true;
  r->fallback_go.cancel();  // start the fallback now
  if (r->fallback_failed || r->over || co_await cancelled()) co_return;
  co_await park();
}

asio::awaitable<void> fallback_branch(RacePtr r, std::vector<asio::ip::address> addrs) {
  Duration delay = r->dialer->options.fallback_delay;
  if (delay <= Duration::zero()) delay = kDefaultFallbackDelay;
  r->fallback_go.expires_after(delay);
  if (!r->primary_failed) co_await r->fallback_go.async_wait(use_tuple);
  if (r->over || co_await cancelled()) co_return;
  auto res = co_await dial_serial(r, std::move(addrs), &r->fallback_current);
  if (res) {
    r->win(std::move(res.value()));
    co_return;
  }
  r->fallback_error = res.error();
  r->fallback_failed = true;
  if (r->primary_failed || r->over || co_await cancelled()) co_return;
  co_await park();
}

// The DNS module when the options carry it, else the shared Resolver.
asio::awaitable<Result<std::vector<asio::ip::address>>> lookup_any(ImplPtr d, std::string host) {
  std::error_code ec;
  auto literal = asio::ip::make_address(host, ec);
  if (!ec) co_return std::vector<asio::ip::address>{literal};
  // Checked here too: options.lookup may be any resolver (the DNS module).
  const auto problem = hostname_problem(host);
  if (problem)
    co_return Error{asio::error::host_not_found, "lookup " + printable_name(host) + ": invalid host name: " + *problem};
  if (d->options.lookup) co_return co_await d->options.lookup(host);
  co_return co_await d->resolver->lookup(host);
}

asio::awaitable<Result<std::vector<asio::ip::address>>> resolve_impl(ImplPtr d, std::string host) {
  auto res = co_await lookup_any(d, host);
  if (!res) co_return res;
  std::vector<asio::ip::address> out;
  out.reserve(res->size());
  for (const auto& a : *res) {
    auto u = unmap(a);
    if (d->options.domain_strategy == DomainStrategy::ipv4_only && !u.is_v4()) continue;
    if (d->options.domain_strategy == DomainStrategy::ipv6_only && !u.is_v6()) continue;
    if (std::find(out.begin(), out.end(), u) == out.end()) out.push_back(u);
  }
  if (d->options.domain_strategy == DomainStrategy::prefer_ipv4)
    std::stable_partition(out.begin(), out.end(), [](const auto& a) { return a.is_v4(); });
  else if (d->options.domain_strategy == DomainStrategy::prefer_ipv6)
    std::stable_partition(out.begin(), out.end(), [](const auto& a) { return a.is_v6(); });
  if (out.empty())
    co_return Error{asio::error::address_family_not_supported,
                    "address " + host + ": no suitable address found"};
  co_return out;
}

asio::awaitable<void> dial_all(RacePtr r) {
  auto addrs = co_await resolve_impl(r->dialer, r->destination.host);
  r->resolving = false;
  if (!addrs) {
    r->error = Error{addrs.error().code, "dial tcp: " + addrs.error().text()};
    co_return;
  }
  // The family of the first address goes first (RFC 8305); the strategy has
  // already put the preferred family in front.
  std::vector<asio::ip::address> primaries, fallbacks;
  const bool first_v4 = addrs->front().is_v4();
  for (const auto& a : *addrs) (a.is_v4() == first_v4 ? primaries : fallbacks).push_back(a);

  if (fallbacks.empty()) {
    auto res = co_await dial_serial(r, std::move(primaries), &r->primary_current);
    if (res)
      r->win(std::move(res.value()));
    else
      r->error = res.error();
    co_return;
  }
  using namespace asio::experimental::awaitable_operators;
  co_await (primary_branch(r, std::move(primaries)) || fallback_branch(r, std::move(fallbacks)));
  if (!r->winner) {
    // Go's dialParallel reports the primary's error.
    if (r->primary_error)
      r->error = r->primary_error;
    else if (r->fallback_error)
      r->error = r->fallback_error;
  }
}

asio::awaitable<void> deadline(RacePtr r, Duration timeout) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  t.expires_after(timeout);
  auto [ec] = co_await t.async_wait(use_tuple);
  if (!ec) {
    r->timed_out = true;
    r->timed_out_resolving = r->resolving;
    r->over = true;
  }
}

asio::awaitable<Result<tcp::socket>> dial_tcp_impl(ImplPtr d, Address destination) {
  auto ex = co_await asio::this_coro::executor;
  auto r = std::make_shared<Race>(ex, d, std::move(destination));
  const Duration timeout = d->options.connect_timeout;
  if (timeout > Duration::zero()) {
    using namespace asio::experimental::awaitable_operators;
    co_await (dial_all(r) || deadline(r, timeout));
  } else {
    co_await dial_all(r);
  }
  if (r->winner) co_return std::move(*r->winner);
  if (r->timed_out) {
    if (r->timed_out_resolving)
      co_return Error{asio::error::timed_out,
                      "dial tcp: lookup " + r->destination.host + ": i/o timeout"};
    // Report the attempt in flight: the primary's, unless it has given up.
    std::string at = r->primary_current;
    if ((r->primary_failed || at.empty()) && !r->fallback_current.empty()) at = r->fallback_current;
    co_return Error{asio::error::timed_out,
                    "dial tcp " + (at.empty() ? r->destination.to_string() : at) + ": i/o timeout"};
  }
  if (r->error) co_return *r->error;
  co_return Error{asio::error::operation_aborted,
                  "dial tcp " + r->destination.to_string() + ": operation was canceled"};
}

}  // namespace

Dialer::Dialer(DialerOptions options, std::shared_ptr<Resolver> resolver, DialerHooks hooks)
    : impl_(std::make_shared<const Impl>(Impl{std::move(options), std::move(resolver), std::move(hooks)})) {}

const DialerOptions& Dialer::options() const { return impl_->options; }
const std::shared_ptr<Resolver>& Dialer::resolver() const { return impl_->resolver; }

asio::awaitable<Result<tcp::socket>> Dialer::dial_tcp(Address destination) const {
  return dial_tcp_impl(impl_, std::move(destination));
}

asio::awaitable<Result<std::vector<asio::ip::address>>> Dialer::resolve(std::string host) const {
  return resolve_impl(impl_, std::move(host));
}

Result<udp::socket> Dialer::open_udp(const asio::any_io_executor& ex) const {
  const DialerOptions& o = impl_->options;
  enum class Family { v4, v6_only, dual };
  Family fam = Family::dual;
  if (o.domain_strategy == DomainStrategy::ipv4_only || (o.inet4_bind_address && !o.inet6_bind_address))
    fam = Family::v4;
  else if (o.domain_strategy == DomainStrategy::ipv6_only || o.inet6_bind_address)
    fam = Family::v6_only;  // both bind addresses set: IPv6 (a socket binds one address)

  udp::socket s(ex);
  std::error_code ec;
  if (fam != Family::v4) {
    s.open(udp::v6(), ec);
    if (ec && fam == Family::dual) {
      fam = Family::v4;  // no IPv6 on this host
    } else if (ec) {
      return Error{ec, "listen udp [::]:0: socket: " + go_error_text(ec)};
    } else {
      s.set_option(asio::ip::v6_only(fam == Family::v6_only), ec);
      if (ec) return Error{ec, "listen udp [::]:0: setsockopt: " + go_error_text(ec)};
    }
  }
  if (fam == Family::v4) {
    s.open(udp::v4(), ec);
    if (ec) return Error{ec, "listen udp 0.0.0.0:0: socket: " + go_error_text(ec)};
  }
  const bool v6 = fam != Family::v4;
  asio::ip::address local = v6 ? asio::ip::address(o.inet6_bind_address.value_or(asio::ip::address_v6::any()))
                               : asio::ip::address(o.inet4_bind_address.value_or(asio::ip::address_v4::any()));
  const std::string where = "listen udp " + endpoint_text(local, 0) + ": ";
  // prepare_socket binds when a bind address is set; bind the wildcard otherwise.
  if (auto err = prepare_socket(s, v6, o)) return Error{err.ec, where + err.op + ": " + go_error_text(err.ec)};
  if (!(v6 ? o.inet6_bind_address.has_value() : o.inet4_bind_address.has_value())) {
    s.bind(udp::endpoint(local, 0), ec);
    if (ec) return Error{ec, where + "bind: " + go_error_text(ec)};
  }
  return s;
}

}  // namespace anytls::net
