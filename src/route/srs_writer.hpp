// sing-box's binary rule-set format (.srs), encoded: what srs.hpp decodes,
// written the way sing-box's `rule-set compile` writes it, so that the
// inflated stream of a set sing-box wrote comes out byte for byte the same
// (the zlib bytes around it depend on the deflate implementation). Pure
// codec, like the reader.
//
// Items in sing-box's order (network, domain trie, keyword, regex, source
// IP set, IP set, source ports, source port ranges, ports, port ranges,
// process name, path, path regex), each only when its list is not empty.
// The domain trie holds every domain and suffix as a reversed key, sorted,
// built breadth first (srs.hpp); version 1 has no '\n' keys, so there a
// suffix "a.com" is written as the name "a.com" and the suffix ".a.com".
// IP sets are written as the ranges given (compile_rules-like callers pass
// them sorted and merged, as Go's netipx.IPSet holds them).
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "route/srs.hpp"

namespace anytls::srs {

// The version `rule-set compile` writes for a source of `source_version`:
// sing-box lowers 4 to 3 and 3 to 2 when no rule uses an item of the newer
// version (interface addresses; network_type and network_is_*), and no rule
// we can hold does. 1 and 2 stay.
std::uint8_t compile_version(std::uint8_t source_version);

// The rules as the inflated stream (what decode_body reads). nullopt with
// `error` ("rules[0].rules[1].domain_suffix[2]: empty name") when a rule
// cannot be written so that it reads back: a version outside 1-3, an empty
// name, a name with '\r' or '\n' (the trie's markers) or one whose key is
// longer than the reader takes (kMaxKey: a domain of 254 bytes, a suffix of
// 253, at version 1 a suffix without its dot of 252).
std::optional<std::string> encode_body(const RuleSet& set, std::string& error);
// "SRS", set.version, and the stream deflated (zlib, best compression, as
// sing-box writes it).
std::optional<std::string> encode(const RuleSet& set, std::string& error);

}  // namespace anytls::srs
