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

struct Rule {
  bool logical = false;
  bool mode_or = false;
  bool invert = false;
  std::vector<Rule> rules;  // logical
  std::vector<std::string> network, domain, domain_suffix, domain_keyword, domain_regex, source_ip_cidr, ip_cidr,
      source_port_range, port_range, process_name, process_path, process_path_regex;
  std::vector<std::uint16_t> source_port, port;
};

struct RuleSet {
  std::uint8_t version = 0;
  std::vector<Rule> rules;
};

// Bounds: at most kMaxDecompressed bytes inflated, logical nesting kMaxDepth,
// kMaxPrefixes IP prefixes per rule list.
inline constexpr std::size_t kMaxDecompressed = 256u << 20;
inline constexpr int kMaxDepth = 32;
// An IP range becomes up to 254 prefixes: their total is capped so a small
// file cannot make a huge rule.
inline constexpr std::size_t kMaxPrefixes = 1u << 22;

// nullopt with `error` set when the bytes are not a rule set we can use
// (unknown items such as AdGuard or Android ones are named).
std::optional<RuleSet> decode(std::span<const std::uint8_t> file, std::string& error);
// The rules of an already inflated stream (the fuzz target reaches the rule
// reader through this without having to forge zlib checksums).
std::optional<RuleSet> decode_body(std::uint8_t version, std::string_view body, std::string& error);

}  // namespace anytls::srs
