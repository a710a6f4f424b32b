#include "inbound/auth_preamble.hpp"

#include <algorithm>
#include <array>

#include <asio/experimental/awaitable_operators.hpp>

#include "net/coro.hpp"

namespace anytls::inbound {

using namespace asio::experimental::awaitable_operators;

namespace {

constexpr std::size_t kHashSize = 32;

// One read appended to `bytes`. The read goes to a buffer of its own, so a
// read cancelled by a timer leaves `bytes` exactly as it was.
asio::awaitable<std::error_code> read_more(net::Conn& conn, std::vector<std::uint8_t>& bytes) {
  std::array<std::uint8_t, 4096> chunk;
  auto [ec, n] = co_await conn.read_some(asio::buffer(chunk));
  bytes.insert(bytes.end(), chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(n));
  if (!ec && n == 0) co_return asio::error::eof;
  co_return ec;
}

}  // namespace

const char* to_string(AuthOutcome::Ending e) {
  switch (e) {
    case AuthOutcome::Ending::authenticated: return "authenticated";
    case AuthOutcome::Ending::wrong_password: return "wrong password";
    case AuthOutcome::Ending::short_preamble: return "short preamble";
    case AuthOutcome::Ending::timeout: return "timeout";
    case AuthOutcome::Ending::closed: return "connection closed";
  }
  return "?";
}

asio::awaitable<AuthOutcome> authenticate(net::Conn& conn, std::span<const proto::PasswordHash> users,
                                          net::Clock::time_point deadline, net::Clock* clock) {
  AuthOutcome out;
  out.bytes.reserve(512);
  auto& time = net::clock_or_system(clock);
  for (;;) {
    if (out.bytes.size() >= kHashSize && !out.user) {
      out.user = proto::match_user(std::span<const std::uint8_t, kHashSize>(out.bytes.data(), kHashSize), users);
      if (!out.user) {
        out.ending = AuthOutcome::Ending::wrong_password;
        co_return out;
      }
    }
    if (out.user) {
      auto parse = proto::parse_preamble(out.bytes);
      if (parse.status == proto::PreambleParse::complete) {
        out.ending = AuthOutcome::Ending::authenticated;
        out.preamble_size = parse.consumed;
        co_return out;
      }
    }
    // A first read shorter than the hash gets only a short wait for more.
    const bool short_read = !out.bytes.empty() && out.bytes.size() < kHashSize;
    const auto until = short_read ? std::min(deadline, time.now() + kShortPreambleWait) : deadline;
    auto r = co_await (read_more(conn, out.bytes) || net::sleep_until(until, clock));
    if (r.index() == 1) {
      out.user.reset();
      out.ending = until < deadline ? AuthOutcome::Ending::short_preamble : AuthOutcome::Ending::timeout;
      co_return out;
    }
    if (std::get<0>(r)) {
      out.user.reset();
      out.ending = AuthOutcome::Ending::closed;
      co_return out;
    }
  }
}

}  // namespace anytls::inbound
