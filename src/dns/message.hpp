// DNS messages (RFC 1035): a pure codec, bytes in and values out, no sockets.
//
// parse() reads a whole message: header, questions and every resource record
// (names decompressed, loops and forward pointers refused, every length
// checked). Record data is kept as it was on the wire, so a record whose data
// holds a compressed name (CNAME, NS, MX...) is only meaningful next to the
// message it came from: forwarded answers travel as the original bytes, with
// only the id and TTLs patched (set_id, patch_ttls). encode() writes the
// messages we build ourselves (queries, local answers), uncompressed.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace anytls::dns {

namespace type {
inline constexpr std::uint16_t a = 1, ns = 2, cname = 5, soa = 6, ptr = 12, mx = 15, txt = 16, aaaa = 28,
                               srv = 33, opt = 41, svcb = 64, https = 65, any = 255;
}
namespace rcode {
inline constexpr std::uint8_t noerror = 0, formerr = 1, servfail = 2, nxdomain = 3, notimp = 4, refused = 5;
}
inline constexpr std::uint16_t kClassIn = 1;
// EDNS0 option code of Client Subnet (RFC 7871).
inline constexpr std::uint16_t kOptionClientSubnet = 8;
// Largest message over UDP we ask peers for and accept.
inline constexpr std::size_t kMaxUdpMessage = 4096;
// Largest message at all (TCP's 16-bit length prefix).
inline constexpr std::size_t kMaxMessage = 65535;

struct Question {
  std::string name;  // dotted, no trailing dot ("example.com"; "" is the root)
  std::uint16_t type = type::a;
  std::uint16_t klass = kClassIn;
  bool operator==(const Question&) const = default;
};

struct Record {
  std::string name;
  std::uint16_t type = type::a;
  std::uint16_t klass = kClassIn;  // an OPT record's UDP payload size
  std::uint32_t ttl = 0;           // an OPT record's extended rcode and flags
  std::vector<std::uint8_t> data;
  // Where the TTL sits in the parsed message (0 for built records).
  std::size_t ttl_offset = 0;
  bool operator==(const Record& o) const {
    return name == o.name && type == o.type && klass == o.klass && ttl == o.ttl && data == o.data;
  }
};

// Header flag bits (the second 16-bit word, rcode in the low 4 bits).
namespace flag {
inline constexpr std::uint16_t qr = 0x8000, aa = 0x0400, tc = 0x0200, rd = 0x0100, ra = 0x0080;
}

struct Message {
  std::uint16_t id = 0;
  std::uint16_t flags = 0;
  std::vector<Question> questions;
  std::vector<Record> answers;
  std::vector<Record> authority;
  std::vector<Record> additional;

  bool response() const { return (flags & flag::qr) != 0; }
  std::uint8_t rcode() const { return static_cast<std::uint8_t>(flags & 0x0f); }
  void set_rcode(std::uint8_t r) { flags = static_cast<std::uint16_t>((flags & ~0x0f) | (r & 0x0f)); }
  bool operator==(const Message&) const = default;
};

// nullopt and a reason ("truncated record", "compression loop") on bad input.
std::optional<Message> parse(std::span<const std::uint8_t> wire, std::string* error = nullptr);

// The possibly compressed name at `at` in wire (a record's data starts at
// its ttl_offset + 6), as parse() gives names; nullopt when it does not read.
std::optional<std::string> read_name(std::span<const std::uint8_t> wire, std::size_t at);

// nullopt when a name cannot be written (label over 63 bytes, name over 255,
// empty label) or a section has more than 65535 entries.
std::optional<std::vector<std::uint8_t>> encode(const Message& m);

// A recursive query for name/type with a fresh OPT record (UDP size
// kMaxUdpMessage) and, when given, an EDNS Client Subnet option.
struct ClientSubnet {
  std::array<std::uint8_t, 16> address{};  // IPv4 in the first 4 bytes
  bool v6 = false;
  std::uint8_t prefix = 0;  // source prefix length
  bool operator==(const ClientSubnet&) const = default;
};
Message make_query(std::uint16_t id, std::string_view name, std::uint16_t qtype,
                   const std::optional<ClientSubnet>& subnet = std::nullopt);
// Adds (or replaces) the Client Subnet option of m's OPT record.
void set_client_subnet(Message& m, const ClientSubnet& subnet);

// The reply shell of a query: same id and question, QR and RA set, RD copied.
Message make_reply(const Message& query, std::uint8_t rc);

// An A (4 bytes) or AAAA (16 bytes) record.
Record address_record(std::string_view name, std::span<const std::uint8_t> address, std::uint32_t ttl);

// The smallest TTL among answers and authority (OPT excluded); nullopt when
// there is none.
std::optional<std::uint32_t> min_ttl(const Message& m);

// In-place edits of a message that parse() accepted as `parsed`.
void set_id(std::span<std::uint8_t> wire, std::uint16_t id);
// Every TTL (OPT excluded) lowered by `elapsed` seconds, not below 0.
void patch_ttls(std::span<std::uint8_t> wire, const Message& parsed, std::uint32_t elapsed);
// Every TTL (OPT excluded) set to `ttl` (a DNS rule's rewrite_ttl).
void set_ttls(std::span<std::uint8_t> wire, const Message& parsed, std::uint32_t ttl);

// Case-insensitive name comparison (ASCII), trailing dots ignored.
bool same_name(std::string_view a, std::string_view b);

// "A", "AAAA", "HTTPS"... or the number; parse_type accepts both ("TYPE65" too).
std::string type_name(std::uint16_t t);
std::optional<std::uint16_t> parse_type(std::string_view s);

}  // namespace anytls::dns
