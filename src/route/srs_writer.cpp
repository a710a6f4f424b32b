#include "route/srs_writer.hpp"

#include <zlib.h>

#include <algorithm>
#include <unordered_set>

namespace anytls::srs {

// Named, not anonymous: a unity build shares one anonymous namespace among
// neighbouring sources.
namespace writer_detail {

// Item numbers (srs.cpp's reader names them all).
enum Item : std::uint8_t {
  kNetwork = 1,
  kDomain = 2,
  kDomainKeyword = 3,
  kDomainRegex = 4,
  kSourceIpCidr = 5,
  kIpCidr = 6,
  kSourcePort = 7,
  kSourcePortRange = 8,
  kPort = 9,
  kPortRange = 10,
  kProcessName = 11,
  kProcessPath = 12,
  kProcessPathRegex = 17,
  kFinal = 0xFF,
};

constexpr char kPrefixLabel = '\r';
constexpr char kRootLabel = '\n';

class Writer {
 public:
  std::string out;
  void byte(std::uint8_t b) { out.push_back(static_cast<char>(b)); }
  void uvarint(std::uint64_t v) {
    while (v >= 0x80) {
      byte(static_cast<std::uint8_t>(v | 0x80));
      v >>= 7;
    }
    byte(static_cast<std::uint8_t>(v));
  }
  void be(std::uint64_t v, int bytes) {
    for (int i = bytes - 1; i >= 0; --i) byte(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  void strings(std::uint8_t item, const std::vector<std::string>& list) {
    if (list.empty()) return;
    byte(item);
    uvarint(list.size());
    for (const auto& s : list) {
      uvarint(s.size());
      out += s;
    }
  }
  void ports(std::uint8_t item, const std::vector<std::uint16_t>& list) {
    if (list.empty()) return;
    byte(item);
    uvarint(list.size());
    for (auto p : list) be(p, 2);
  }
  // Version 1, a big-endian u64 count (sing-box's), then each range's first
  // and last address as (uvarint length, bytes).
  void ip_set(std::uint8_t item, const std::vector<IpRange>& list) {
    if (list.empty()) return;
    byte(item);
    byte(1);
    be(list.size(), 8);
    for (const auto& r : list) {
      const int n = r.v4 ? 4 : 16;
      for (auto a : {r.first, r.last}) {
        uvarint(static_cast<std::uint64_t>(n));
        for (int i = n - 1; i >= 0; --i) byte(static_cast<std::uint8_t>(a >> (8 * i)));
      }
    }
  }
};

void set_bit(std::vector<std::uint64_t>& bm, std::size_t i) {
  if ((i >> 6) >= bm.size()) bm.resize((i >> 6) + 1, 0);
  bm[i >> 6] |= std::uint64_t{1} << (i & 63);
}

// The sorted, distinct keys as a LOUDS trie: nodes breadth first, each a
// run of zeros in the label bitmap (one per child, its label appended)
// closed by a one; a node where a key ends has its leaf bit set. The
// bitmaps grow only as far as their last set bit, as sing-box's do.
void write_trie(Writer& w, const std::vector<std::string>& keys) {
  struct Node {
    std::size_t begin, end, depth;  // the keys below it, and its depth
  };
  std::vector<Node> queue{{0, keys.size(), 0}};
  std::vector<std::uint64_t> leaves, bitmap;
  std::string labels;
  std::size_t bit = 0;
  for (std::size_t i = 0; i < queue.size(); ++i) {
    Node n = queue[i];
    if (n.depth == keys[n.begin].size()) {  // sorted: the key ending here is first
      set_bit(leaves, i);
      ++n.begin;
    }
    for (std::size_t j = n.begin; j < n.end;) {
      const std::size_t from = j;
      const char label = keys[from][n.depth];
      while (j < n.end && keys[j][n.depth] == label) ++j;
      queue.push_back({from, j, n.depth + 1});
      labels.push_back(label);
      if ((bit >> 6) >= bitmap.size()) bitmap.resize((bit >> 6) + 1, 0);  // a zero, stored
      ++bit;
    }
    set_bit(bitmap, bit++);
  }
  w.byte(0);  // the trie's own version byte: sing-box writes 0
  w.uvarint(leaves.size());
  for (auto x : leaves) w.be(x, 8);
  w.uvarint(bitmap.size());
  for (auto x : bitmap) w.be(x, 8);
  w.uvarint(labels.size());
  w.out += labels;
}

// A name that can be written: the reader takes keys (the reversed name and
// its marker, if any) of up to kMaxKey bytes, and splits keys at nothing
// but their last byte.
bool check_name(const std::string& name, std::size_t marker, const char* field, std::size_t i, std::string& error) {
  std::string problem;
  if (name.empty()) problem = "empty name";
  else if (name.find_first_of("\r\n") != std::string::npos) problem = "a name with a line break";
  else if (name.size() + marker > kMaxKey) problem = "a name longer than " + std::to_string(kMaxKey - marker) + " bytes";
  if (problem.empty()) return true;
  error = std::string(field) + "[" + std::to_string(i) + "]: " + problem;
  return false;
}

// sing-box's domain.NewMatcher: a name is taken once (the first list that
// has it wins, suffixes first), then the keys are sorted.
bool write_domains(Writer& w, const Rule& r, bool legacy, std::string& error) {
  if (r.domain.empty() && r.domain_suffix.empty()) return true;
  std::vector<std::string> keys;
  keys.reserve(r.domain.size() + r.domain_suffix.size() * (legacy ? 2 : 1));
  std::unordered_set<std::string> seen;
  for (std::size_t i = 0; i < r.domain_suffix.size(); ++i) {
    const std::string& s = r.domain_suffix[i];
    // Version 1 writes "a.com" as the name and "\r.a.com": two bytes more.
    if (!check_name(s, s[0] != '.' && legacy ? 2 : 1, "domain_suffix", i, error)) return false;
    if (!seen.insert(s).second) continue;
    if (s[0] == '.') {
      keys.push_back(reverse_name(s) + kPrefixLabel);
    } else if (legacy) {
      keys.push_back(reverse_name(s));
      if (seen.insert("." + s).second) keys.push_back(reverse_name("." + s) + kPrefixLabel);
    } else {
      keys.push_back(reverse_name(s) + kRootLabel);
    }
  }
  for (std::size_t i = 0; i < r.domain.size(); ++i) {
    const std::string& d = r.domain[i];
    if (!check_name(d, 0, "domain", i, error)) return false;
    if (seen.insert(d).second) keys.push_back(reverse_name(d));
  }
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  w.byte(kDomain);
  write_trie(w, keys);
  return true;
}

bool write_rule(Writer& w, const Rule& r, std::uint8_t version, int depth, std::string& error) {
  if (depth > kMaxDepth) {
    error = "logical rules nested too deep";
    return false;
  }
  if (r.logical) {
    w.byte(1);
    w.byte(r.mode_or ? 1 : 0);
    w.uvarint(r.rules.size());
    for (std::size_t i = 0; i < r.rules.size(); ++i) {
      if (!write_rule(w, r.rules[i], version, depth + 1, error)) {
        error = "rules[" + std::to_string(i) + "]." + error;
        return false;
      }
    }
    w.byte(r.invert ? 1 : 0);
    return true;
  }
  w.byte(0);
  w.strings(kNetwork, r.network);
  if (!write_domains(w, r, version == 1, error)) return false;
  w.strings(kDomainKeyword, r.domain_keyword);
  w.strings(kDomainRegex, r.domain_regex);
  w.ip_set(kSourceIpCidr, r.source_ip_cidr);
  w.ip_set(kIpCidr, r.ip_cidr);
  w.ports(kSourcePort, r.source_port);
  w.strings(kSourcePortRange, r.source_port_range);
  w.ports(kPort, r.port);
  w.strings(kPortRange, r.port_range);
  w.strings(kProcessName, r.process_name);
  w.strings(kProcessPath, r.process_path);
  w.strings(kProcessPathRegex, r.process_path_regex);
  w.byte(kFinal);
  w.byte(r.invert ? 1 : 0);
  return true;
}

}  // namespace writer_detail

std::uint8_t compile_version(std::uint8_t source_version) { return source_version > 2 ? 2 : source_version; }

std::optional<std::string> encode_body(const RuleSet& set, std::string& error) {
  if (set.version < 1 || set.version > 3) {
    error = "unsupported rule-set version " + std::to_string(set.version) + " (1 2 3)";
    return std::nullopt;
  }
  writer_detail::Writer w;
  w.uvarint(set.rules.size());
  for (std::size_t i = 0; i < set.rules.size(); ++i) {
    if (!writer_detail::write_rule(w, set.rules[i], set.version, 0, error)) {
      error = "rules[" + std::to_string(i) + "]." + error;
      return std::nullopt;
    }
  }
  return std::move(w.out);
}

std::optional<std::string> encode(const RuleSet& set, std::string& error) {
  auto body = encode_body(set, error);
  if (!body) return std::nullopt;
  uLongf size = compressBound(static_cast<uLong>(body->size()));
  std::string out(4 + size, '\0');
  out[0] = 'S';
  out[1] = 'R';
  out[2] = 'S';
  out[3] = static_cast<char>(set.version);
  const int rc = compress2(reinterpret_cast<Bytef*>(out.data() + 4), &size,
                           reinterpret_cast<const Bytef*>(body->data()), static_cast<uLong>(body->size()),
                           Z_BEST_COMPRESSION);
  if (rc != Z_OK) {
    error = "zlib: cannot compress (" + std::to_string(rc) + ")";
    return std::nullopt;
  }
  out.resize(4 + size);
  return out;
}

}  // namespace anytls::srs
