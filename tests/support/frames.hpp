// Raw AnyTLS wire helpers for tests that play one side by hand: frame
// encoding (any command value), a frame reader over a net::Conn, the auth
// preamble, and exact reads/writes.
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <asio/awaitable.hpp>

#include "anytls/frame.hpp"
#include "net/conn.hpp"

namespace anytls::test {

inline constexpr std::string_view kPassword = "8JCsPssfgS8tiRwiMlhARg==";

inline std::span<const std::uint8_t> as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// One frame with any command byte (data <= 65535 bytes).
std::vector<std::uint8_t> raw_frame(std::uint8_t cmd, std::uint32_t sid, std::span<const std::uint8_t> data = {});
std::vector<std::uint8_t> raw_frame(proto::Command cmd, std::uint32_t sid, std::span<const std::uint8_t> data = {});
std::vector<std::uint8_t> raw_frame(proto::Command cmd, std::uint32_t sid, std::string_view text);
// Concatenation of byte vectors. (Variadic rather than an initializer_list:
// GCC 12 rejects initializer_list arrays inside coroutines.)
template <class... Parts>
std::vector<std::uint8_t> cat(const Parts&... parts) {
  std::vector<std::uint8_t> out;
  (out.insert(out.end(), parts.begin(), parts.end()), ...);
  return out;
}

// SOCKS form of 127.0.0.1:port (7 bytes), what a client stream starts with.
std::vector<std::uint8_t> ipv4_loopback_address(std::uint16_t port);

struct RawFrame {
  proto::Command cmd{};
  std::uint32_t sid = 0;
  std::vector<std::uint8_t> data;
  std::string text() const { return {data.begin(), data.end()}; }
  int cmd_value() const { return static_cast<int>(cmd); }
};
std::string describe(const RawFrame& f);

// Reads whole frames from a connection, whatever the record/read chunking.
class FrameReader {
 public:
  explicit FrameReader(net::Conn& conn) : conn_(conn) {}
  // The next frame (Waste frames skipped unless keep_waste), or nullopt at
  // end of stream / error (then error() says which).
  asio::awaitable<std::optional<RawFrame>> next(bool keep_waste = false);
  // The next frame whose command is not heart/waste... : reads frames until
  // one with `cmd` arrives, returning it; the skipped ones go to `skipped`.
  asio::awaitable<std::optional<RawFrame>> until(proto::Command cmd, std::vector<RawFrame>* skipped = nullptr);
  const std::error_code& error() const { return ec_; }
  // Sizes of the PSH frames seen so far (in order), all streams.
  const std::vector<std::size_t>& push_sizes() const { return push_sizes_; }

 private:
  net::Conn& conn_;
  proto::FrameDecoder decoder_;
  std::vector<std::uint8_t> buf_ = std::vector<std::uint8_t>(64 * 1024);
  std::span<const std::uint8_t> pending_;
  std::optional<RawFrame> cur_;
  std::error_code ec_;
  std::vector<std::size_t> push_sizes_;
};

// Writes everything; throws std::runtime_error on failure.
asio::awaitable<void> write_all(net::Conn& conn, std::span<const std::uint8_t> bytes);
// Reads exactly out.size() bytes; returns the error (eof if the stream ended).
asio::awaitable<std::error_code> read_exact(net::Conn& conn, std::span<std::uint8_t> out);
// The same from anything with read_some(buffer) -> (error, bytes read).
template <class Reader>
asio::awaitable<std::error_code> read_exact_from(Reader& r, std::span<std::uint8_t> out) {
  std::size_t have = 0;
  while (have < out.size()) {
    auto [ec, n] = co_await r.read_some(asio::buffer(out.data() + have, out.size() - have));
    if (ec) co_return ec;
    have += n;
  }
  co_return std::error_code{};
}

// Client: the auth preamble in one TLS write.
asio::awaitable<void> write_preamble(net::Conn& conn, std::string_view password = kPassword,
                                     std::uint16_t padding_len = 30);
// Server: reads until the preamble is complete, checks the password hash and
// returns the bytes read after it. Throws on a mismatch or end of stream.
asio::awaitable<std::vector<std::uint8_t>> read_preamble(net::Conn& conn, std::string_view password = kPassword);

}  // namespace anytls::test
