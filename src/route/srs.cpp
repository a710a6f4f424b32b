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

bool inflate_all(std::span<const std::uint8_t> in, std::string& out, std::string& error) {
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
    out.append(buf, sizeof(buf) - z.avail_out);
    if (out.size() > kMaxDecompressed) {
      error = "decompressed size over the limit";
      inflateEnd(&z);
      return false;
    }
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

bool read_strings(Reader& r, std::vector<std::string>& out) {
  std::uint64_t n;
  if (!r.count(n, 1)) return false;
  for (std::uint64_t i = 0; i < n; ++i) {
    std::uint64_t len;
    std::string_view s;
    if (!r.uvarint(len) || len > r.left() || !r.bytes(static_cast<std::size_t>(len), s)) return false;
    out.emplace_back(s);
  }
  return true;
}

bool read_ports(Reader& r, std::vector<std::uint16_t>& out) {
  std::uint64_t n;
  if (!r.count(n, 2)) return false;
  for (std::uint64_t i = 0; i < n; ++i) {
    std::uint16_t p;
    if (!r.be16(p)) return false;
    out.push_back(p);
  }
  return true;
}

using U128 = unsigned __int128;

std::string ip_text(U128 v, bool v4) {
  char buf[64];
  if (v4) {
    auto x = static_cast<std::uint32_t>(v);
    std::snprintf(buf, sizeof(buf), "%u.%u.%u.%u", x >> 24, (x >> 16) & 255, (x >> 8) & 255, x & 255);
    return buf;
  }
  std::string s;
  for (int i = 7; i >= 0; --i) {
    std::snprintf(buf, sizeof(buf), "%x", static_cast<unsigned>((v >> (16 * i)) & 0xFFFF));
    s += buf;
    if (i) s += ':';
  }
  return s;
}

// [from, to] as the fewest prefixes.
void range_to_prefixes(U128 from, U128 to, bool v4, std::vector<std::string>& out) {
  const int width = v4 ? 32 : 128;
  while (true) {
    // The largest block aligned at `from` that ends within `to`: 2^host addresses.
    int host = 0;
    while (host < width) {
      int next = host + 1;
      if (next == 128) {  // all of IPv6
        if (from == 0 && to == ~U128(0)) host = 128;
        break;
      }
      U128 size = U128(1) << next;
      if ((from & (size - 1)) != 0) break;
      U128 last = from + (size - 1);
      if (last > to || last < from) break;
      host = next;
    }
    out.push_back(ip_text(from, v4) + "/" + std::to_string(width - host));
    U128 last = host == 128 ? ~U128(0) : from + ((U128(1) << host) - 1);
    if (last >= to) return;
    from = last + 1;
  }
}

bool read_ip_set(Reader& r, std::vector<std::string>& out, std::string& error) {
  std::uint8_t version;
  std::uint64_t n;
  if (!r.byte(version) || version != 1 || !r.be64(n) || n > r.left() / 2) {
    error = "bad IP set";
    return false;
  }
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
    range_to_prefixes(a, b, f.size() == 4, out);
    if (out.size() > kMaxPrefixes) {
      error = "too many IP prefixes";
      return false;
    }
  }
  return true;
}

bool get_bit(const std::vector<std::uint64_t>& bm, std::uint64_t i) {
  return (bm[i >> 6] >> (i & 63)) & 1;
}

// The trie's keys, read breadth-first: node k's children are the zeros of
// its run in the label bitmap (one label each), the run ends with a one,
// and children are numbered in the order they appear.
bool read_domains(Reader& r, Rule& rule, std::string& error) {
  std::uint8_t version;
  std::uint64_t nl, nb, nlab;
  std::vector<std::uint64_t> leaves, bitmap;
  std::string_view labels;
  error = "bad domain trie";
  if (!r.byte(version) || !r.count(nl, 8)) return false;
  for (std::uint64_t i = 0; i < nl; ++i) {
    std::uint64_t w;
    if (!r.be64(w)) return false;
    leaves.push_back(w);
  }
  if (!r.count(nb, 8)) return false;
  for (std::uint64_t i = 0; i < nb; ++i) {
    std::uint64_t w;
    if (!r.be64(w)) return false;
    bitmap.push_back(w);
  }
  if (!r.uvarint(nlab) || nlab > r.left() || !r.bytes(static_cast<std::size_t>(nlab), labels)) return false;
  const std::uint64_t bits = nb * 64;
  struct Node {
    std::uint32_t parent;
    char label;
  };
  std::vector<Node> nodes{{0, 0}};
  std::uint64_t bit = 0, label = 0;
  for (std::size_t k = 0; k < nodes.size(); ++k) {
    while (true) {
      if (bit >= bits) return false;
      if (get_bit(bitmap, bit++)) break;
      if (label >= labels.size() || nodes.size() >= labels.size() + 1) return false;
      nodes.push_back({static_cast<std::uint32_t>(k), labels[label++]});
    }
    // Every key ends at a leaf; walking up spells the name forwards.
    if ((k >> 6) >= leaves.size() || !get_bit(leaves, k)) continue;
    std::string key;
    for (std::size_t n = k; n != 0; n = nodes[n].parent) key += nodes[n].label;  // reversed back
    if (key.empty()) continue;
    if (key.front() == kPrefixLabel) {
      std::string name = key.substr(1);
      if (!name.empty() && name.front() == '.')
        rule.domain_suffix.push_back(name);  // ".example.com"
      else if (!name.empty())
        rule.domain_suffix.push_back(name);  // pre-1.9 raw suffix: the nearest we have
    } else if (key.front() == kRootLabel) {
      if (key.size() > 1) rule.domain_suffix.push_back(key.substr(1));
    } else {
      rule.domain.push_back(key);
    }
  }
  error.clear();
  return true;
}

bool read_rule(Reader& r, Rule& rule, int depth, std::string& error);

bool read_default(Reader& r, Rule& rule, std::string& error) {
  while (true) {
    std::uint8_t item;
    if (!r.byte(item)) {
      error = "truncated rule";
      return false;
    }
    bool ok = true;
    switch (item) {
      case kNetwork: ok = read_strings(r, rule.network); break;
      case kDomain:
        if (!read_domains(r, rule, error)) return false;
        break;
      case kDomainKeyword: ok = read_strings(r, rule.domain_keyword); break;
      case kDomainRegex: ok = read_strings(r, rule.domain_regex); break;
      case kSourceIpCidr:
        if (!read_ip_set(r, rule.source_ip_cidr, error)) return false;
        break;
      case kIpCidr:
        if (!read_ip_set(r, rule.ip_cidr, error)) return false;
        break;
      case kSourcePort: ok = read_ports(r, rule.source_port); break;
      case kSourcePortRange: ok = read_strings(r, rule.source_port_range); break;
      case kPort: ok = read_ports(r, rule.port); break;
      case kPortRange: ok = read_strings(r, rule.port_range); break;
      case kProcessName: ok = read_strings(r, rule.process_name); break;
      case kProcessPath: ok = read_strings(r, rule.process_path); break;
      case kProcessPathRegex: ok = read_strings(r, rule.process_path_regex); break;
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
      error = "truncated or bad rule item " + std::to_string(item);
      return false;
    }
  }
}

bool read_rule(Reader& r, Rule& rule, int depth, std::string& error) {
  if (depth > kMaxDepth) {
    error = "logical rules nested too deep";
    return false;
  }
  std::uint8_t type;
  if (!r.byte(type)) {
    error = "truncated rule";
    return false;
  }
  if (type == 0) return read_default(r, rule, error);
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
    if (!read_rule(r, sub, depth + 1, error)) return false;
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

std::optional<RuleSet> decode(std::span<const std::uint8_t> file, std::string& error) {
  if (file.size() < 4 || std::memcmp(file.data(), "SRS", 3) != 0) {
    error = "not a sing-box binary rule-set (no \"SRS\" magic)";
    return std::nullopt;
  }
  RuleSet set;
  set.version = file[3];
  if (set.version < 1 || set.version > 3) {
    error = "unsupported rule-set version " + std::to_string(set.version) + " (1 2 3)";
    return std::nullopt;
  }
  std::string body;
  if (!inflate_all(file.subspan(4), body, error)) return std::nullopt;
  return decode_body(set.version, body, error);
}

std::optional<RuleSet> decode_body(std::uint8_t version, std::string_view body, std::string& error) {
  RuleSet set;
  set.version = version;
  Reader r(body);
  std::uint64_t n;
  if (!r.count(n, 2)) {
    error = "bad rule count";
    return std::nullopt;
  }
  for (std::uint64_t i = 0; i < n; ++i) {
    Rule rule;
    if (!read_rule(r, rule, 0, error)) {
      error = "rules[" + std::to_string(i) + "]: " + error;
      return std::nullopt;
    }
    set.rules.push_back(std::move(rule));
  }
  return set;
}

}  // namespace anytls::srs
