#include "route/srs.hpp"

#include <zlib.h>

#include <algorithm>
#include <cstring>

namespace anytls::srs {

namespace {

enum Item : std::uint8_t {
  kQueryType = 0,
  kNetwork,
  kDomain,
  kDomainKeyword,
  kDomainRegex,
  kSourceIpCidr,
  kIpCidr,
  kSourcePort,
  kSourcePortRange,
  kPort,
  kPortRange,
  kProcessName,
  kProcessPath,
  kPackageName,
  kWifiSsid,
  kWifiBssid,
  kAdGuardDomain,
  kProcessPathRegex,
  kNetworkType,
  kNetworkIsExpensive,
  kNetworkIsConstrained,
  kFinal = 0xFF,
};

constexpr char kPrefixLabel = '\r';  // ".example.com": subdomains only
constexpr char kRootLabel = '\n';    // "example.com": itself and subdomains

// What a decode may allocate, counted as it goes (srs.hpp: kMaxDecodedBytes).
class Budget {
 public:
  explicit Budget(std::size_t bound) : bound_(bound) {}
  // Takes n bytes more; false with `error` naming the figure when that is over the bound.
  bool take(std::size_t n, std::string& error) {
    if (n > bound_ || used_ > bound_ - n) {
      error = over_budget(n > SIZE_MAX - used_ ? SIZE_MAX : used_ + n, bound_);
      return false;
    }
    used_ += n;
    return true;
  }
  void give_back(std::size_t n) { used_ -= std::min(n, used_); }
  std::size_t used() const { return used_; }
  std::size_t bound() const { return bound_; }

 private:
  std::size_t bound_;
  std::size_t used_ = 0;
};

bool inflate_all(std::span<const std::uint8_t> in, std::string& out, std::size_t limit, std::string& error) {
  z_stream z{};
  if (inflateInit(&z) != Z_OK) {
    error = "zlib: cannot initialise";
    return false;
  }
  z.next_in = const_cast<Bytef*>(in.data());
  z.avail_in = static_cast<uInt>(in.size());
  int rc = Z_OK;
  char buf[16384];
  while (rc != Z_STREAM_END) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof(buf);
    rc = inflate(&z, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      error = rc == Z_BUF_ERROR ? "zlib: truncated stream" : std::string("zlib: ") + (z.msg ? z.msg : "corrupt stream");
      inflateEnd(&z);
      return false;
    }
    const std::size_t produced = sizeof(buf) - z.avail_out;
    if (produced > limit - out.size()) {
      error = over_budget(out.size() + produced, limit);
      inflateEnd(&z);
      return false;
    }
    // Grown by hand so that the capacity never passes the limit either.
    if (out.size() + produced > out.capacity())
      out.reserve(std::min(limit, std::max(out.capacity() * 2, out.size() + produced)));
    out.append(buf, produced);
    if (rc == Z_OK && z.avail_in == 0 && z.avail_out != 0) {
      error = "zlib: truncated stream";
      inflateEnd(&z);
      return false;
    }
  }
  inflateEnd(&z);
  return true;
}

class Reader {
 public:
  explicit Reader(std::string_view s) : s_(s) {}
  std::size_t left() const { return s_.size() - pos_; }
  bool byte(std::uint8_t& v) {
    if (left() < 1) return false;
    v = static_cast<std::uint8_t>(s_[pos_++]);
    return true;
  }
  bool uvarint(std::uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      std::uint8_t b;
      if (!byte(b)) return false;
      if (shift == 63 && b > 1) return false;  // overflow
      v |= static_cast<std::uint64_t>(b & 0x7F) << shift;
      if (!(b & 0x80)) return true;
    }
    return false;
  }
  bool be64(std::uint64_t& v) {
    if (left() < 8) return false;
    v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<std::uint8_t>(s_[pos_++]);
    return true;
  }
  bool be16(std::uint16_t& v) {
    if (left() < 2) return false;
    v = static_cast<std::uint16_t>((static_cast<std::uint8_t>(s_[pos_]) << 8) | static_cast<std::uint8_t>(s_[pos_ + 1]));
    pos_ += 2;
    return true;
  }
  bool bytes(std::size_t n, std::string_view& out) {
    if (left() < n) return false;
    out = s_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  // A count of elements at least `min_size` bytes each that the rest can hold.
  bool count(std::uint64_t& n, std::size_t min_size) {
    if (!uvarint(n)) return false;
    return n <= left() / std::max<std::size_t>(min_size, 1);
  }

 private:
  std::string_view s_;
  std::size_t pos_ = 0;
};

bool read_strings(Reader& r, std::vector<std::string>& out, Budget& budget, std::string& error) {
  std::uint64_t n;
  if (!r.count(n, 1)) return false;
  for (std::uint64_t i = 0; i < n; ++i) {
    std::uint64_t len;
    std::string_view s;
    if (!r.uvarint(len) || len > r.left() || !r.bytes(static_cast<std::size_t>(len), s)) return false;
    if (!budget.take(s.size() + kStringOverhead, error)) return false;
    out.emplace_back(s);
  }
  return true;
}

bool read_ports(Reader& r, std::vector<std::uint16_t>& out, Budget& budget, std::string& error) {
  std::uint64_t n;
  if (!r.count(n, 2)) return false;
  if (!budget.take(static_cast<std::size_t>(n) * sizeof(std::uint16_t), error)) return false;
  for (std::uint64_t i = 0; i < n; ++i) {
    std::uint16_t p;
    if (!r.be16(p)) return false;
    out.push_back(p);
  }
  return true;
}

using U128 = unsigned __int128;

bool read_ip_set(Reader& r, std::vector<IpRange>& out, Budget& budget, std::string& error) {
  std::uint8_t version;
  std::uint64_t n;
  if (!r.byte(version) || version != 1 || !r.be64(n) || n > r.left() / 2) {
    error = "bad IP set";
    return false;
  }
  if (!budget.take(static_cast<std::size_t>(n) * sizeof(IpRange), error)) return false;
  out.reserve(out.size() + static_cast<std::size_t>(n));
  for (std::uint64_t i = 0; i < n; ++i) {
    std::uint64_t fl, tl;
    std::string_view f, t;
    if (!r.uvarint(fl) || fl > r.left() || !r.bytes(static_cast<std::size_t>(fl), f) || !r.uvarint(tl) ||
        tl > r.left() || !r.bytes(static_cast<std::size_t>(tl), t) || (f.size() != 4 && f.size() != 16) ||
        f.size() != t.size()) {
      error = "bad IP range";
      return false;
    }
    U128 a = 0, b = 0;
    for (char c : f) a = (a << 8) | static_cast<std::uint8_t>(c);
    for (char c : t) b = (b << 8) | static_cast<std::uint8_t>(c);
    if (a > b) {
      error = "bad IP range (from > to)";
      return false;
    }
    out.push_back({a, b, f.size() == 4});
  }
  return true;
}

bool get_bit(const std::vector<std::uint64_t>& bm, std::uint64_t i) {
  return (bm[i >> 6] >> (i & 63)) & 1;
}

// Calls visit(path) for every leaf of the trie below the root, depth first,
// with the labels from the root down (a reversed key). first[k] to
// first[k + 1] are node k's children, node n's label is labels[n - 1].
// Cost: the nodes once each, plus the length of what visit() makes of the
// path; the stack is at most kMaxKey frames. False (error set) on a path
// longer than a key can be.
template <class Visit>
bool walk_trie(const std::vector<std::uint32_t>& first, std::string_view labels,
               const std::vector<std::uint64_t>& leaves, std::string& error, Visit&& visit) {
  struct Frame {
    std::uint32_t next, end;
  };
  std::vector<Frame> stack{{first[0], first[1]}};
  std::string path;
  while (!stack.empty()) {
    Frame& f = stack.back();
    if (f.next == f.end) {
      stack.pop_back();
      if (!stack.empty()) path.pop_back();  // the root has no label
      continue;
    }
    const std::uint32_t node = f.next++;
    path.push_back(labels[node - 1]);
    if (path.size() > kMaxKey) {
      error = "bad domain trie: a name longer than " + std::to_string(kMaxKey - 1) + " bytes";
      return false;
    }
    if ((node >> 6) < leaves.size() && get_bit(leaves, node)) visit(std::string_view(path));
    stack.push_back({first[node], first[node + 1]});
  }
  return true;
}

// A leaf's key (reversed path: the leaf's label first, then up to the root)
// as a rule entry: which list it goes to and its name; empty when none.
enum class KeyKind { none, domain, suffix };
KeyKind key_kind(std::string_view path, std::size_t& name_size) {
  const char marker = path.back();  // the key's first byte
  if (marker == kPrefixLabel || marker == kRootLabel) {
    name_size = path.size() - 1;
    return name_size ? KeyKind::suffix : KeyKind::none;
  }
  name_size = path.size();
  return KeyKind::domain;
}

// The trie's keys. Nodes are numbered breadth-first: node k's children are
// the zeros of its run in the label bitmap (one label each), the run ends
// with a one, and children are numbered in the order they appear. Keys are
// listed depth first with one path stack, so listing costs their total
// length, and that total is counted against the budget before any is made.
bool read_domains(Reader& r, Rule& rule, Budget& budget, std::string& error) {
  std::uint8_t version;
  std::uint64_t nl, nb, nlab;
  std::vector<std::uint64_t> leaves, bitmap;
  std::string_view labels;
  error = "bad domain trie";
  if (!r.byte(version) || !r.count(nl, 8)) return false;
  // Scratch, given back at the end: the bitmaps and the child index.
  std::size_t scratch = static_cast<std::size_t>(nl) * 8;
  if (!budget.take(scratch, error)) return false;
  for (std::uint64_t i = 0; i < nl; ++i) {
    std::uint64_t w;
    if (!r.be64(w)) return false;
    leaves.push_back(w);
  }
  if (!r.count(nb, 8)) return false;
  if (!budget.take(static_cast<std::size_t>(nb) * 8, error)) return false;
  scratch += static_cast<std::size_t>(nb) * 8;
  for (std::uint64_t i = 0; i < nb; ++i) {
    std::uint64_t w;
    if (!r.be64(w)) return false;
    bitmap.push_back(w);
  }
  if (!r.uvarint(nlab) || nlab > r.left() || !r.bytes(static_cast<std::size_t>(nlab), labels)) return false;
  if (labels.size() >= UINT32_MAX - 2) return false;
  const std::size_t index_bytes = (labels.size() + 2) * sizeof(std::uint32_t);
  if (!budget.take(index_bytes, error)) return false;
  scratch += index_bytes;
  const std::uint64_t bits = nb * 64;
  std::vector<std::uint32_t> first;  // first[k]: node k's first child; first[k + 1]: past its last
  first.reserve(labels.size() + 2);
  first.push_back(1);
  std::uint64_t bit = 0;
  std::uint32_t nodes = 1;
  for (std::uint32_t k = 0; k < nodes; ++k) {
    while (true) {
      if (bit >= bits) return false;
      if (get_bit(bitmap, bit++)) break;
      if (nodes > labels.size()) return false;  // a node without a label
      ++nodes;
    }
    first.push_back(nodes);
  }
  // First the cost of every key, then the keys.
  std::size_t need = 0;
  auto count = [&need](std::string_view path) {
    std::size_t size = 0;
    if (key_kind(path, size) != KeyKind::none) need += size + kStringOverhead;
  };
  if (!walk_trie(first, labels, leaves, error, count)) return false;
  if (!budget.take(need, error)) return false;
  auto add = [&rule](std::string_view path) {
    std::size_t size = 0;
    const KeyKind kind = key_kind(path, size);
    if (kind == KeyKind::none) return;
    // Suffixes: ".example.com" (subdomains only) or "example.com" (itself
    // and subdomains; after '\r', a pre-1.9 raw suffix, the nearest we have).
    auto& list = kind == KeyKind::suffix ? rule.domain_suffix : rule.domain;
    list.push_back(reverse_name(path.substr(0, size)));
  };
  walk_trie(first, labels, leaves, error, add);
  budget.give_back(scratch);
  error.clear();
  return true;
}

bool read_rule(Reader& r, Rule& rule, int depth, Budget& budget, std::string& error);

bool read_default(Reader& r, Rule& rule, Budget& budget, std::string& error) {
  while (true) {
    std::uint8_t item;
    if (!r.byte(item)) {
      error = "truncated rule";
      return false;
    }
    bool ok = true;
    error.clear();
    switch (item) {
      case kNetwork: ok = read_strings(r, rule.network, budget, error); break;
      case kDomain:
        if (!read_domains(r, rule, budget, error)) return false;
        break;
      case kDomainKeyword: ok = read_strings(r, rule.domain_keyword, budget, error); break;
      case kDomainRegex: ok = read_strings(r, rule.domain_regex, budget, error); break;
      case kSourceIpCidr:
        if (!read_ip_set(r, rule.source_ip_cidr, budget, error)) return false;
        break;
      case kIpCidr:
        if (!read_ip_set(r, rule.ip_cidr, budget, error)) return false;
        break;
      case kSourcePort: ok = read_ports(r, rule.source_port, budget, error); break;
      case kSourcePortRange: ok = read_strings(r, rule.source_port_range, budget, error); break;
      case kPort: ok = read_ports(r, rule.port, budget, error); break;
      case kPortRange: ok = read_strings(r, rule.port_range, budget, error); break;
      case kProcessName: ok = read_strings(r, rule.process_name, budget, error); break;
      case kProcessPath: ok = read_strings(r, rule.process_path, budget, error); break;
      case kProcessPathRegex: ok = read_strings(r, rule.process_path_regex, budget, error); break;
      case kFinal: {
        std::uint8_t inv;
        if (!r.byte(inv) || inv > 1) {
          error = "bad invert flag";
          return false;
        }
        rule.invert = inv == 1;
        return true;
      }
      case kQueryType: error = "query_type (a DNS rule item) not supported in route rule sets"; return false;
      case kPackageName: error = "package_name (Android) not supported"; return false;
      case kWifiSsid:
      case kWifiBssid: error = "wifi_ssid/wifi_bssid not supported"; return false;
      case kAdGuardDomain: error = "AdGuard domain rules not supported"; return false;
      case kNetworkType:
      case kNetworkIsExpensive:
      case kNetworkIsConstrained: error = "network_type/network_is_* (mobile) not supported"; return false;
      default: error = "unknown rule item " + std::to_string(item); return false;
    }
    if (!ok) {
      if (error.empty()) error = "truncated or bad rule item " + std::to_string(item);
      return false;
    }
  }
}

bool read_rule(Reader& r, Rule& rule, int depth, Budget& budget, std::string& error) {
  if (depth > kMaxDepth) {
    error = "logical rules nested too deep";
    return false;
  }
  std::uint8_t type;
  if (!r.byte(type)) {
    error = "truncated rule";
    return false;
  }
  if (type == 0) return read_default(r, rule, budget, error);
  if (type != 1) {
    error = "unknown rule type " + std::to_string(type);
    return false;
  }
  rule.logical = true;
  std::uint8_t mode;
  std::uint64_t n;
  if (!r.byte(mode) || mode > 1 || !r.count(n, 2)) {
    error = "bad logical rule";
    return false;
  }
  rule.mode_or = mode == 1;
  for (std::uint64_t i = 0; i < n; ++i) {
    Rule sub;
    if (!budget.take(sizeof(Rule), error) || !read_rule(r, sub, depth + 1, budget, error)) return false;
    rule.rules.push_back(std::move(sub));
  }
  std::uint8_t inv;
  if (!r.byte(inv) || inv > 1) {
    error = "bad invert flag";
    return false;
  }
  rule.invert = inv == 1;
  return true;
}

}  // namespace

std::string reverse_name(std::string_view name) {
  std::string out(name.size(), '\0');
  std::size_t end = name.size();
  for (std::size_t i = 0; i < name.size();) {
    const auto lead = static_cast<std::uint8_t>(name[i]);
    std::size_t n = lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xE ? 3 : (lead >> 3) == 0x1E ? 4 : 1;
    for (std::size_t k = 1; k < n; ++k)
      if (i + k >= name.size() || (static_cast<std::uint8_t>(name[i + k]) & 0xC0) != 0x80) n = 1;
    end -= n;
    name.copy(out.data() + end, n, i);
    i += n;
  }
  return out;
}

std::string size_text(std::size_t bytes) {
  constexpr std::size_t kKiB = 1u << 10, kMiB = 1u << 20;
  if (bytes < 16 * kMiB && bytes % kMiB != 0) return std::to_string(bytes / kKiB + (bytes % kKiB != 0)) + " KiB";
  return std::to_string(bytes / kMiB + (bytes % kMiB != 0)) + " MiB";
}

std::string over_budget(std::size_t needed, std::size_t budget) {
  return "rule set needs at least " + size_text(needed) + " decoded, over the " + size_text(budget) + " bound";
}

std::optional<RuleSet> decode(std::span<const std::uint8_t> file, std::string& error, std::size_t budget) {
  if (file.size() < 4 || std::memcmp(file.data(), "SRS", 3) != 0) {
    error = "not a sing-box binary rule-set (no \"SRS\" magic)";
    return std::nullopt;
  }
  const std::uint8_t version = file[3];
  if (version < 1 || version > 3) {
    error = "unsupported rule-set version " + std::to_string(version) + " (1 2 3)";
    return std::nullopt;
  }
  std::string body;
  if (!inflate_all(file.subspan(4), body, budget, error)) return std::nullopt;
  return decode_body(version, body, error, budget);
}

std::optional<RuleSet> decode_body(std::uint8_t version, std::string_view body, std::string& error,
                                   std::size_t budget) {
  RuleSet set;
  set.version = version;
  Budget spent(budget);
  if (!spent.take(body.size(), error)) return std::nullopt;
  Reader r(body);
  std::uint64_t n;
  if (!r.count(n, 2)) {
    error = "bad rule count";
    return std::nullopt;
  }
  for (std::uint64_t i = 0; i < n; ++i) {
    Rule rule;
    if (!spent.take(sizeof(Rule), error) || !read_rule(r, rule, 0, spent, error)) {
      error = "rules[" + std::to_string(i) + "]: " + error;
      return std::nullopt;
    }
    set.rules.push_back(std::move(rule));
  }
  set.decoded_bytes = spent.used() - body.size();
  return set;
}

}  // namespace anytls::srs
