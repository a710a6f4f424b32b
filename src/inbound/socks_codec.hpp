// SOCKS4/4a and SOCKS5 (RFC 1928, RFC 1929) message codec: bytes in, values
// out. No I/O (asio only for IP literal text); every length the peer
// controls is checked.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "net/address.hpp"

namespace anytls::inbound::socks {

using Bytes = std::span<const std::uint8_t>;

enum class Status { ok, need_more, invalid };

template <class T>
struct Parsed {
  Status status = Status::need_more;
  T value{};
  std::size_t consumed = 0;  // bytes of input used (status ok)
  std::string error;         // why (status invalid)
};

// ---- SOCKS4 / SOCKS4a -----------------------------------------------------

inline constexpr std::uint8_t kVersion4 = 0x04;
inline constexpr std::uint8_t kCommandConnect = 0x01;
inline constexpr std::uint8_t kCommandBind = 0x02;
inline constexpr std::uint8_t kCommandUdpAssociate = 0x03;
inline constexpr std::uint8_t kReply4Granted = 0x5A;
inline constexpr std::uint8_t kReply4Rejected = 0x5B;
// Longest user id / SOCKS4a host name we accept.
inline constexpr std::size_t kMaxSocks4Field = 255;

struct Socks4Request {
  std::uint8_t command = 0;
  net::Address destination;  // SOCKS4a: the host name
  std::string user_id;
  bool socks4a = false;
};

// VN=4 CD DSTPORT(2) DSTIP(4) USERID NUL [HOST NUL when DSTIP is 0.0.0.x, x != 0]
Parsed<Socks4Request> parse_socks4_request(Bytes in);
// VN=0 CD DSTPORT DSTIP (port and ip are ignored by clients; we send zeros)
std::array<std::uint8_t, 8> socks4_reply(std::uint8_t code);

// ---- SOCKS5 ---------------------------------------------------------------

inline constexpr std::uint8_t kVersion5 = 0x05;
inline constexpr std::uint8_t kMethodNoAuth = 0x00;
inline constexpr std::uint8_t kMethodUserPass = 0x02;
inline constexpr std::uint8_t kMethodNoAcceptable = 0xFF;
inline constexpr std::uint8_t kAtypIPv4 = 0x01;
inline constexpr std::uint8_t kAtypDomain = 0x03;
inline constexpr std::uint8_t kAtypIPv6 = 0x04;

// Reply codes (RFC 1928 section 6).
enum class Reply5 : std::uint8_t {
  succeeded = 0x00,
  general_failure = 0x01,
  not_allowed = 0x02,
  network_unreachable = 0x03,
  host_unreachable = 0x04,
  connection_refused = 0x05,
  ttl_expired = 0x06,
  command_not_supported = 0x07,
  address_type_not_supported = 0x08,
};

struct Socks5Greeting {
  std::vector<std::uint8_t> methods;
  bool offers(std::uint8_t m) const;
};
// VER=5 NMETHODS METHODS...
Parsed<Socks5Greeting> parse_socks5_greeting(Bytes in);
std::array<std::uint8_t, 2> socks5_method_reply(std::uint8_t method);

struct Socks5Credentials {
  std::string username;
  std::string password;
};
// RFC 1929: VER=1 ULEN UNAME PLEN PASSWD (ULEN >= 1; PLEN may be 0)
Parsed<Socks5Credentials> parse_socks5_auth(Bytes in);
// VER=1 STATUS (0 success)
std::array<std::uint8_t, 2> socks5_auth_reply(bool success);

struct Socks5Request {
  std::uint8_t command = 0;
  net::Address destination;
};
// VER=5 CMD RSV ATYP ADDR PORT. An unknown ATYP is `invalid` with
// error "address type"; the caller answers address_type_not_supported.
Parsed<Socks5Request> parse_socks5_request(Bytes in);
// VER=5 REP RSV ATYP BND.ADDR BND.PORT
std::vector<std::uint8_t> socks5_reply(Reply5 rep, const net::Address& bound);

// ATYP ADDR PORT, the SOCKS5 address form. An IP literal host is written as
// 01/04, anything else as a domain (invalid if longer than 255 or empty).
bool append_address(std::vector<std::uint8_t>& out, const net::Address& a);
Parsed<net::Address> parse_address(Bytes in);
// Bytes append_address would write for a.
std::size_t address_size(const net::Address& a);

// ---- SOCKS5 UDP -----------------------------------------------------------

// RSV(2) FRAG ATYP ADDR PORT: the longest header is 2+1+1+1+255+2.
inline constexpr std::size_t kMaxUdpHeader = 262;

struct Socks5UdpHeader {
  std::uint8_t frag = 0;
  net::Address destination;
};
// `consumed` is the header length; the payload follows. A truncated header
// is `invalid` (a datagram is all there is).
Parsed<Socks5UdpHeader> parse_socks5_udp_header(Bytes datagram);
// Writes the header for `a` so that it ends right at `end` (the payload
// start) inside a buffer whose first `room` bytes before `end` are free.
// Returns the header size, 0 if it does not fit or `a` cannot be encoded.
std::size_t write_socks5_udp_header_before(std::uint8_t* end, std::size_t room,
                                           const net::Address& a);

}  // namespace anytls::inbound::socks
