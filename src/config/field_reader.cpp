// The shared field readers (field_reader.hpp).
#include "config/field_reader.hpp"

#include <algorithm>
#include <cctype>
#include <exception>

#include <asio/ip/address.hpp>

namespace anytls::config::detail {

// Kind of a JSON value as messages name it.
std::string kind(const json& j) {
  switch (j.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "integer";
    case json::value_t::number_float: return "number";
    case json::value_t::string: return "string";
    case json::value_t::array: return "array";
    case json::value_t::object: return "object";
    default: return "value";
  }
}

bool is_ip(const std::string& s) {
  std::error_code ec;
  (void)asio::ip::make_address(s, ec);
  return !ec;
}

bool is_digits(std::string_view s) {
  return !s.empty() && s.size() <= 9 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool valid_cidr(const std::string& s) {
  auto slash = s.find('/');
  std::error_code ec;
  auto addr = asio::ip::make_address(s.substr(0, slash), ec);
  if (ec) return false;
  if (slash == std::string::npos) return true;
  std::string bits = s.substr(slash + 1);
  if (bits.empty() || bits.size() > 3 ||
      !std::all_of(bits.begin(), bits.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return false;
  int n = std::stoi(bits);
  return n <= (addr.is_v4() ? 32 : 128);
}

std::string get_string(Obj& o, std::string_view key, std::string def) {
  const json* v = o.get(key);
  if (!v) return def;
  if (!v->is_string()) fail(o.at(key), "expected string, got " + kind(*v));
  return v->get<std::string>();
}

std::string required_string(Obj& o, std::string_view key) {
  const json* v = o.get(key);
  if (!v) fail(o.at(key), "missing required field");
  if (!v->is_string()) fail(o.at(key), "expected string, got " + kind(*v));
  std::string s = v->get<std::string>();
  if (s.empty()) fail(o.at(key), "missing required field");
  return s;
}

bool get_bool(Obj& o, std::string_view key, bool def) {
  const json* v = o.get(key);
  if (!v) return def;
  if (!v->is_boolean()) fail(o.at(key), "expected boolean, got " + kind(*v));
  return v->get<bool>();
}

std::uint64_t to_uint(const json& v, const std::string& path, std::uint64_t max) {
  if (v.is_number_integer() && !v.is_number_unsigned()) {
    if (v.get<std::int64_t>() < 0) fail(path, "must not be negative");
  } else if (!v.is_number_unsigned()) {
    fail(path, "expected unsigned integer, got " + kind(v));
  }
  std::uint64_t u = v.get<std::uint64_t>();
  if (u > max) fail(path, "out of range: " + std::to_string(u) + " > " + std::to_string(max));
  return u;
}

std::optional<std::uint64_t> get_uint(Obj& o, std::string_view key, std::uint64_t max) {
  const json* v = o.get(key);
  if (!v) return std::nullopt;
  return to_uint(*v, o.at(key), max);
}

std::uint16_t get_port(Obj& o, std::string_view key) {
  return static_cast<std::uint16_t>(get_uint(o, key, 65535).value_or(0));
}

std::uint16_t required_port(Obj& o, std::string_view key) {
  auto p = get_uint(o, key, 65535);
  if (!p) fail(o.at(key), "missing required field");
  if (*p == 0) fail(o.at(key), "must be between 1 and 65535");
  return static_cast<std::uint16_t>(*p);
}

int get_count(Obj& o, std::string_view key, int def) {
  auto v = get_uint(o, key, 1'000'000);
  return v ? static_cast<int>(*v) : def;
}

// Go duration string. zero_is_default: "0" (or absent) gives def.
Duration get_duration(Obj& o, std::string_view key, Duration def, bool zero_is_default) {
  const json* v = o.get(key);
  if (!v) return def;
  if (!v->is_string()) fail(o.at(key), "expected duration string, got " + kind(*v));
  std::string s = v->get<std::string>();
  auto d = net::parse_duration(s, {.allow_days = true});
  if (!d) fail(o.at(key), "invalid duration " + in_quotes(s));
  if (d->count() < 0) fail(o.at(key), "must not be negative");
  if (d->count() == 0 && zero_is_default) return def;
  return *d;
}

// sing-box's udp_timeout also takes a bare number of seconds.
Duration get_udp_timeout(Obj& o, std::string_view key) {
  const json* v = o.get(key);
  if (v && v->is_number()) {
    std::uint64_t secs = to_uint(*v, o.at(key), 1'000'000'000);
    return secs == 0 ? defaults::kUdpTimeout : Duration(std::chrono::seconds(secs));
  }
  return get_duration(o, key, defaults::kUdpTimeout, true);
}

// Listable string: "a" or ["a", "b"].
std::vector<std::string> get_strings(Obj& o, std::string_view key) {
  const json* v = o.get(key);
  if (!v) return {};
  if (v->is_string()) return {v->get<std::string>()};
  if (!v->is_array()) fail(o.at(key), "expected string or array of strings, got " + kind(*v));
  std::vector<std::string> out;
  for (std::size_t i = 0; i < v->size(); ++i) {
    const json& e = (*v)[i];
    if (!e.is_string()) fail(item(o.at(key), i), "expected string, got " + kind(e));
    out.push_back(e.get<std::string>());
  }
  return out;
}

std::string get_lines(Obj& o, std::string_view key) {
  std::string out;
  auto lines = get_strings(o, key);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (i) out += '\n';
    out += lines[i];
  }
  return out;
}

std::vector<std::uint16_t> get_ports(Obj& o, std::string_view key) {
  const json* v = o.get(key);
  if (!v) return {};
  if (!v->is_array()) return {static_cast<std::uint16_t>(to_uint(*v, o.at(key), 65535))};
  std::vector<std::uint16_t> out;
  for (std::size_t i = 0; i < v->size(); ++i)
    out.push_back(static_cast<std::uint16_t>(to_uint((*v)[i], item(o.at(key), i), 65535)));
  return out;
}

// routing_mark: integer, or a string in decimal or 0x-hex.
std::uint32_t get_mark(Obj& o, std::string_view key) {
  const json* v = o.get(key);
  if (!v) return 0;
  if (v->is_string()) {
    std::string s = v->get<std::string>();
    try {
      std::size_t used = 0;
      unsigned long long m = std::stoull(s, &used, 0);
      if (used == s.size() && m <= 0xffffffffULL) return static_cast<std::uint32_t>(m);
    } catch (const std::exception&) {
    }
    fail(o.at(key), "invalid routing mark " + in_quotes(s));
  }
  return static_cast<std::uint32_t>(to_uint(*v, o.at(key), 0xffffffffULL));
}

DomainStrategy parse_strategy(const std::string& ds, const std::string& path) {
  if (ds.empty() || ds == "as_is") return DomainStrategy::as_is;
  if (ds == "prefer_ipv4") return DomainStrategy::prefer_ipv4;
  if (ds == "prefer_ipv6") return DomainStrategy::prefer_ipv6;
  if (ds == "ipv4_only") return DomainStrategy::ipv4_only;
  if (ds == "ipv6_only") return DomainStrategy::ipv6_only;
  fail(path, "unknown domain strategy " + in_quotes(ds) + " (prefer_ipv4 prefer_ipv6 ipv4_only ipv6_only)");
}

DomainStrategy parse_strategy(Obj& o, std::string_view key) { return parse_strategy(get_string(o, key), o.at(key)); }

}  // namespace anytls::config::detail
