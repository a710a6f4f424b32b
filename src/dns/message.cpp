#include "dns/message.hpp"

#include <algorithm>
#include <cctype>

namespace anytls::dns {
namespace {

constexpr std::size_t kHeader = 12;
constexpr std::size_t kMaxName = 255;
constexpr std::size_t kMaxLabel = 63;
// Compression pointers followed per name; a legal name needs far fewer.
constexpr int kMaxJumps = 64;

class Reader {
 public:
  explicit Reader(std::span<const std::uint8_t> w) : w_(w) {}
  std::size_t pos() const { return pos_; }
  void seek(std::size_t p) { pos_ = std::min(p, w_.size()); }
  bool u16(std::uint16_t& v) {
    if (w_.size() - pos_ < 2) return false;
    v = static_cast<std::uint16_t>(w_[pos_] << 8 | w_[pos_ + 1]);
    pos_ += 2;
    return true;
  }
  bool u32(std::uint32_t& v) {
    if (w_.size() - pos_ < 4) return false;
    v = static_cast<std::uint32_t>(w_[pos_]) << 24 | static_cast<std::uint32_t>(w_[pos_ + 1]) << 16 |
        static_cast<std::uint32_t>(w_[pos_ + 2]) << 8 | w_[pos_ + 3];
    pos_ += 4;
    return true;
  }
  bool bytes(std::size_t n, std::vector<std::uint8_t>& out) {
    if (w_.size() - pos_ < n) return false;
    out.assign(w_.begin() + static_cast<std::ptrdiff_t>(pos_), w_.begin() + static_cast<std::ptrdiff_t>(pos_ + n));
    pos_ += n;
    return true;
  }
  // A possibly compressed name; pointers must point backwards (before the
  // label that holds them), which rules out loops.
  bool name(std::string& out, const char*& why) {
    out.clear();
    std::size_t p = pos_;
    std::size_t wire_len = 1;
    bool jumped = false;
    int jumps = 0;
    for (;;) {
      if (p >= w_.size()) return (why = "truncated name", false);
      std::uint8_t len = w_[p];
      if ((len & 0xc0) == 0xc0) {
        if (p + 1 >= w_.size()) return (why = "truncated name", false);
        std::size_t target = static_cast<std::size_t>(len & 0x3f) << 8 | w_[p + 1];
        // Never into the header: set_id() must not change what a name reads.
        if (target >= p || target < kHeader || ++jumps > kMaxJumps) return (why = "bad compression pointer", false);
        if (!jumped) pos_ = p + 2;
        jumped = true;
        p = target;
        continue;
      }
      if ((len & 0xc0) != 0) return (why = "bad label type", false);
      if (len == 0) {
        if (!jumped) pos_ = p + 1;
        return true;
      }
      if (p + 1 + len > w_.size()) return (why = "truncated name", false);
      wire_len += 1 + len;
      if (wire_len > kMaxName) return (why = "name too long", false);
      if (!out.empty()) out += '.';
      for (std::size_t i = 0; i < len; ++i) {
        char c = static_cast<char>(w_[p + 1 + i]);
        // Dots and backslashes inside a label would change the name's
        // meaning as text: escape them like dig does.
        if (c == '.' || c == '\\') out += '\\';
        out += c;
      }
      p += 1 + len;
    }
  }

 private:
  std::span<const std::uint8_t> w_;
  std::size_t pos_ = 0;
};

void put16(std::vector<std::uint8_t>& o, std::uint16_t v) {
  o.push_back(static_cast<std::uint8_t>(v >> 8));
  o.push_back(static_cast<std::uint8_t>(v));
}

void put32(std::vector<std::uint8_t>& o, std::uint32_t v) {
  put16(o, static_cast<std::uint16_t>(v >> 16));
  put16(o, static_cast<std::uint16_t>(v));
}

bool put_name(std::vector<std::uint8_t>& o, std::string_view name) {
  // A final unescaped dot is the root's (an escaped one is part of a label).
  std::size_t slashes = 0;
  for (std::size_t i = name.size(); i >= 2 && name[i - 2] == '\\'; --i) ++slashes;
  if (!name.empty() && name.back() == '.' && slashes % 2 == 0) name.remove_suffix(1);
  std::size_t total = 1;
  std::string label;
  auto flush = [&]() {
    if (label.empty() || label.size() > kMaxLabel) return false;
    total += 1 + label.size();
    if (total > kMaxName) return false;
    o.push_back(static_cast<std::uint8_t>(label.size()));
    o.insert(o.end(), label.begin(), label.end());
    label.clear();
    return true;
  };
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    if (c == '\\' && i + 1 < name.size()) {
      label += name[++i];
    } else if (c == '.') {
      if (!flush()) return false;
    } else {
      label += c;
    }
  }
  if (!name.empty() && !flush()) return false;
  o.push_back(0);
  return true;
}

bool read_records(Reader& r, std::uint16_t count, std::vector<Record>& out, const char*& why) {
  out.reserve(std::min<std::size_t>(count, 64));
  for (std::uint16_t i = 0; i < count; ++i) {
    Record rec;
    std::uint16_t len = 0;
    if (!r.name(rec.name, why)) return false;
    if (!r.u16(rec.type) || !r.u16(rec.klass)) return (why = "truncated record", false);
    rec.ttl_offset = r.pos();
    if (!r.u32(rec.ttl) || !r.u16(len) || !r.bytes(len, rec.data)) return (why = "truncated record", false);
    out.push_back(std::move(rec));
  }
  return true;
}

bool write_records(std::vector<std::uint8_t>& o, const std::vector<Record>& rs) {
  for (const auto& r : rs) {
    if (r.data.size() > 0xffff || !put_name(o, r.name)) return false;
    put16(o, r.type);
    put16(o, r.klass);
    put32(o, r.ttl);
    put16(o, static_cast<std::uint16_t>(r.data.size()));
    o.insert(o.end(), r.data.begin(), r.data.end());
  }
  return true;
}

char lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

}  // namespace

std::optional<std::string> read_name(std::span<const std::uint8_t> wire, std::size_t at) {
  Reader r(wire);
  r.seek(at);
  std::string out;
  const char* why = nullptr;
  if (!r.name(out, why)) return std::nullopt;
  return out;
}

std::optional<Message> parse(std::span<const std::uint8_t> wire, std::string* error) {
  const char* why = "truncated header";
  auto bad = [&]() -> std::optional<Message> {
    if (error) *error = why;
    return std::nullopt;
  };
  if (wire.size() > kMaxMessage) return (why = "message too long", bad());
  Reader r(wire);
  Message m;
  std::uint16_t qd = 0, an = 0, ns = 0, ar = 0;
  if (!r.u16(m.id) || !r.u16(m.flags) || !r.u16(qd) || !r.u16(an) || !r.u16(ns) || !r.u16(ar)) return bad();
  // Each entry takes at least 5 (question) or 11 (record) bytes: a count the
  // message cannot hold is refused before anything is reserved.
  if (static_cast<std::size_t>(qd) * 5 + (static_cast<std::size_t>(an) + ns + ar) * 11 > wire.size() - kHeader)
    return (why = "counts exceed the message", bad());
  for (std::uint16_t i = 0; i < qd; ++i) {
    Question q;
    if (!r.name(q.name, why)) return bad();
    if (!r.u16(q.type) || !r.u16(q.klass)) return (why = "truncated question", bad());
    m.questions.push_back(std::move(q));
  }
  if (!read_records(r, an, m.answers, why) || !read_records(r, ns, m.authority, why) ||
      !read_records(r, ar, m.additional, why))
    return bad();
  return m;
}

std::optional<std::vector<std::uint8_t>> encode(const Message& m) {
  if (m.questions.size() > 0xffff || m.answers.size() > 0xffff || m.authority.size() > 0xffff ||
      m.additional.size() > 0xffff)
    return std::nullopt;
  std::vector<std::uint8_t> o;
  o.reserve(512);
  put16(o, m.id);
  put16(o, m.flags);
  put16(o, static_cast<std::uint16_t>(m.questions.size()));
  put16(o, static_cast<std::uint16_t>(m.answers.size()));
  put16(o, static_cast<std::uint16_t>(m.authority.size()));
  put16(o, static_cast<std::uint16_t>(m.additional.size()));
  for (const auto& q : m.questions) {
    if (!put_name(o, q.name)) return std::nullopt;
    put16(o, q.type);
    put16(o, q.klass);
  }
  if (!write_records(o, m.answers) || !write_records(o, m.authority) || !write_records(o, m.additional))
    return std::nullopt;
  if (o.size() > kMaxMessage) return std::nullopt;
  return o;
}

Message make_query(std::uint16_t id, std::string_view name, std::uint16_t qtype,
                   const std::optional<ClientSubnet>& subnet) {
  Message m;
  m.id = id;
  m.flags = flag::rd;
  m.questions.push_back(Question{std::string(name), qtype, kClassIn});
  Record opt;
  opt.type = type::opt;
  opt.klass = static_cast<std::uint16_t>(kMaxUdpMessage);
  m.additional.push_back(std::move(opt));
  if (subnet) set_client_subnet(m, *subnet);
  return m;
}

void set_client_subnet(Message& m, const ClientSubnet& subnet) {
  auto it = std::find_if(m.additional.begin(), m.additional.end(), [](const Record& r) { return r.type == type::opt; });
  if (it == m.additional.end()) {
    Record opt;
    opt.type = type::opt;
    opt.klass = static_cast<std::uint16_t>(kMaxUdpMessage);
    m.additional.push_back(std::move(opt));
    it = std::prev(m.additional.end());
  }
  // Keep the other options, drop an existing subnet.
  std::vector<std::uint8_t> kept;
  const auto& d = it->data;
  for (std::size_t p = 0; p + 4 <= d.size();) {
    std::uint16_t code = static_cast<std::uint16_t>(d[p] << 8 | d[p + 1]);
    std::size_t len = static_cast<std::size_t>(d[p + 2] << 8 | d[p + 3]);
    if (p + 4 + len > d.size()) break;
    if (code != kOptionClientSubnet) kept.insert(kept.end(), d.begin() + static_cast<std::ptrdiff_t>(p),
                                                 d.begin() + static_cast<std::ptrdiff_t>(p + 4 + len));
    p += 4 + len;
  }
  std::uint8_t max_bits = subnet.v6 ? 128 : 32;
  std::uint8_t bits = std::min(subnet.prefix, max_bits);
  std::size_t nbytes = (bits + 7u) / 8u;
  put16(kept, kOptionClientSubnet);
  put16(kept, static_cast<std::uint16_t>(4 + nbytes));
  put16(kept, subnet.v6 ? 2 : 1);
  kept.push_back(bits);
  kept.push_back(0);  // scope prefix: 0 in queries
  for (std::size_t i = 0; i < nbytes; ++i) {
    std::uint8_t b = subnet.address[i];
    // Bits beyond the prefix must be zero (RFC 7871 6).
    if (i + 1 == nbytes && bits % 8 != 0) b = static_cast<std::uint8_t>(b & (0xff << (8 - bits % 8)));
    kept.push_back(b);
  }
  it->data = std::move(kept);
}

Message make_reply(const Message& query, std::uint8_t rc) {
  Message m;
  m.id = query.id;
  m.flags = static_cast<std::uint16_t>(flag::qr | flag::ra | (query.flags & flag::rd));
  m.set_rcode(rc);
  m.questions = query.questions;
  return m;
}

Record address_record(std::string_view name, std::span<const std::uint8_t> address, std::uint32_t ttl) {
  Record r;
  r.name = std::string(name);
  r.type = address.size() == 4 ? type::a : type::aaaa;
  r.ttl = ttl;
  r.data.assign(address.begin(), address.end());
  return r;
}

std::optional<std::uint32_t> min_ttl(const Message& m) {
  std::optional<std::uint32_t> out;
  for (const auto* section : {&m.answers, &m.authority})
    for (const auto& r : *section)
      if (r.type != type::opt) out = out ? std::min(*out, r.ttl) : r.ttl;
  return out;
}

void set_id(std::span<std::uint8_t> wire, std::uint16_t id) {
  if (wire.size() < 2) return;
  wire[0] = static_cast<std::uint8_t>(id >> 8);
  wire[1] = static_cast<std::uint8_t>(id);
}

namespace {

// Writes new_ttl(record's TTL) over every TTL but an OPT record's.
template <class F>
void rewrite_ttls(std::span<std::uint8_t> wire, const Message& parsed, F new_ttl) {
  for (const auto* section : {&parsed.answers, &parsed.authority, &parsed.additional}) {
    for (const auto& r : *section) {
      if (r.type == type::opt || r.ttl_offset + 4 > wire.size()) continue;
      const std::uint32_t ttl = new_ttl(r.ttl);
      for (int i = 0; i < 4; ++i) wire[r.ttl_offset + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(ttl >> (24 - 8 * i));
    }
  }
}

}  // namespace

void patch_ttls(std::span<std::uint8_t> wire, const Message& parsed, std::uint32_t elapsed) {
  rewrite_ttls(wire, parsed, [elapsed](std::uint32_t ttl) { return ttl > elapsed ? ttl - elapsed : 0; });
}

void set_ttls(std::span<std::uint8_t> wire, const Message& parsed, std::uint32_t ttl) {
  rewrite_ttls(wire, parsed, [ttl](std::uint32_t) { return ttl; });
}

bool same_name(std::string_view a, std::string_view b) {
  while (!a.empty() && a.back() == '.') a.remove_suffix(1);
  while (!b.empty() && b.back() == '.') b.remove_suffix(1);
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return lower(x) == lower(y); });
}

namespace {
struct TypeName {
  std::uint16_t value;
  const char* name;
};
constexpr TypeName kTypes[] = {{type::a, "A"},       {type::ns, "NS"},     {type::cname, "CNAME"}, {type::soa, "SOA"},
                               {type::ptr, "PTR"},   {type::mx, "MX"},     {type::txt, "TXT"},     {type::aaaa, "AAAA"},
                               {type::srv, "SRV"},   {type::opt, "OPT"},   {type::svcb, "SVCB"},   {type::https, "HTTPS"},
                               {type::any, "ANY"}};
}  // namespace

std::string type_name(std::uint16_t t) {
  for (const auto& e : kTypes)
    if (e.value == t) return e.name;
  return "TYPE" + std::to_string(t);
}

std::optional<std::uint16_t> parse_type(std::string_view s) {
  std::string up;
  for (char c : s) up += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (const auto& e : kTypes)
    if (up == e.name) return e.value;
  std::string_view digits = up;
  if (digits.rfind("TYPE", 0) == 0) digits.remove_prefix(4);
  if (digits.empty() || digits.size() > 5) return std::nullopt;
  unsigned v = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  if (v == 0 || v > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(v);
}

}  // namespace anytls::dns
