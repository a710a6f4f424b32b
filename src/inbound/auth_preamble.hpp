// The server's authentication decision on a fresh TLS connection: read the
// auth preamble (sha256(password) + padding) and decide, without waiting
// out a timer when the answer is already clear.
//
//   - 32 bytes in: the hash is compared with every user's, in constant time,
//     and only ever as a whole (a prefix comparison would leak the hash one
//     byte at a time through timing). Wrong: decided at once.
//   - Fewer than 32 bytes, and nothing more within kShortPreambleWait: not a
//     client of ours. Real clients write the preamble in one TLS record; a
//     prober's short request (`GET / HTTP/1.0\r\n\r\n`, 18 bytes) is answered
//     by the fallback about as fast as by the fallback itself. A preamble
//     split over records sent back to back still arrives within the wait.
//   - Right hash, padding still arriving: up to the handshake deadline.
//
// Every byte read is kept in the outcome, whatever ended the read (a timer,
// the peer, an error), so the fallback receives exactly what the client sent.
#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include <asio/awaitable.hpp>

#include "anytls/preamble.hpp"
#include "net/clock.hpp"
#include "net/conn.hpp"

namespace anytls::inbound {

// How long a short first read (< 32 bytes) waits for more before the
// connection counts as failed authentication.
inline constexpr std::chrono::milliseconds kShortPreambleWait{50};

struct AuthOutcome {
  enum class Ending { authenticated, wrong_password, short_preamble, timeout, closed };
  Ending ending = Ending::closed;
  std::optional<std::size_t> user;  // with authenticated
  std::size_t preamble_size = 0;    // with authenticated: bytes of the preamble
  std::vector<std::uint8_t> bytes;  // everything read after the TLS handshake
};

const char* to_string(AuthOutcome::Ending e);

// Reads until decided or `deadline` (on `clock`; null = real time).
asio::awaitable<AuthOutcome> authenticate(net::Conn& conn, std::span<const proto::PasswordHash> users,
                                          net::Clock::time_point deadline, net::Clock* clock);

}  // namespace anytls::inbound
