// sing-box's binary rule-set format (.srs), decoded: "SRS", a version byte
// (1-3) and a zlib stream of headless rules. Pure codec (no asio, no
// config), so it fuzzes alone (tests/fuzz/fuzz_srs.cpp).
//
// In the stream: uvarint rule count, then per rule a type byte (0 default,
// 1 logical). A default rule is items (type byte + value) up to 0xFF and an
// invert byte; string lists are uvarint count + (uvarint length, bytes),
// port lists uvarint count + big-endian u16s, IP sets a version byte (1), a
// big-endian u64 count and (uvarint length, from bytes, uvarint length, to
// bytes) ranges. Domains and suffixes share one succinct trie (LOUDS: u64
// leaf and label bitmaps, label bytes) of reversed names, '\r' ending a
// ".suffix" (subdomains only) and '\n' a "suffix" (itself and subdomains).
// A logical rule is a mode byte (0 and, 1 or), uvarint count, sub-rules and
// an invert byte.
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace anytls::srs {

// An IP set's range as stored, inclusive; v4: both fit 32 bits. Kept as a
// range (route::IpSet matches ranges): as CIDRs one can be 254 prefixes.
struct IpRange {
  unsigned __int128 first = 0, last = 0;
  bool v4 = false;
  bool operator==(const IpRange&) const = default;
};

struct Rule {
  bool logical = false;
  bool mode_or = false;
  bool invert = false;
  std::vector<Rule> rules;  // logical
  std::vector<std::string> network, domain, domain_suffix, domain_keyword, domain_regex, source_port_range,
      port_range, process_name, process_path, process_path_regex;
  std::vector<IpRange> source_ip_cidr, ip_cidr;
  std::vector<std::uint16_t> source_port, port;
  bool operator==(const Rule&) const = default;
};

struct RuleSet {
  std::uint8_t version = 0;
  std::vector<Rule> rules;
  // What the decoded rules hold, as counted against the bound (below).
  std::size_t decoded_bytes = 0;
};

// Bounds: logical nesting kMaxDepth, and one byte budget for everything a
// decode allocates: the inflated stream, the domain trie's scratch index
// while it is walked, every string produced (its size plus
// kStringOverhead, a std::string object), every port, IP range and rule.
// A set over its budget is refused with the figure ("rule set needs at
// least 300 MiB decoded, over the 256 MiB bound"). The default, 256 MiB, is
// 3.7 times what a generated geosite-sized set of 1.5 million suffixes
// counts (69 MiB).
inline constexpr std::size_t kMaxDecodedBytes = 256u << 20;
inline constexpr std::size_t kStringOverhead = sizeof(std::string);
inline constexpr int kMaxDepth = 32;
// A domain key: a DNS name (at most 253 bytes) and the suffix marker.
inline constexpr std::size_t kMaxKey = 254;

// nullopt with `error` set when the bytes are not a rule set we can use
// (unknown items such as AdGuard or Android ones are named), or when it
// needs more than `budget` bytes decoded.
std::optional<RuleSet> decode(std::span<const std::uint8_t> file, std::string& error,
                              std::size_t budget = kMaxDecodedBytes);
// The rules of an already inflated stream (the fuzz target reaches the rule
// reader through this without having to forge zlib checksums). The stream
// counts against the budget too.
std::optional<RuleSet> decode_body(std::uint8_t version, std::string_view body, std::string& error,
                                   std::size_t budget = kMaxDecodedBytes);

// A name reversed character by character, UTF-8 sequences kept in their
// byte order, as sing-box keys its trie ("a.com" <-> "moc.a"). A byte that
// starts no valid sequence counts as one character.
std::string reverse_name(std::string_view name);

// "rule set needs at least 300 MiB decoded, over the 256 MiB bound"
std::string over_budget(std::size_t needed, std::size_t budget);
// "300 MiB" (rounded up), or "12 KiB" below 16 MiB when not whole MiB.
std::string size_text(std::size_t bytes);

}  // namespace anytls::srs
