// What every section decoder of the configuration reads fields with: a JSON
// object that remembers which keys were read (strict decoding), and readers
// of strings, integers, durations and lists that fail with a ConfigError
// naming the JSON path ("inbounds[1].listen_port: expected unsigned integer,
// got string"). Internal to src/config: only the decoders include it, so
// nlohmann-json stays out of every other layer.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/load.hpp"
#include "config/options.hpp"

namespace anytls::config::detail {

// ordered: `format` and merged_json keep the keys in the order written.
using json = nlohmann::ordered_json;

[[noreturn]] inline void fail(const std::string& path, std::string problem) {
  throw ConfigError(path, std::move(problem));
}

// "a.b", "a[3]", "\"x\"": JSON paths and quoted values in messages.
inline std::string child(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}
inline std::string item(const std::string& path, std::size_t i) { return path + "[" + std::to_string(i) + "]"; }
// Appended, not `"\"" + std::string(s)`: GCC 12 at -O3 reports that form as
// a memcpy past the maximum object size (-Wstringop-overflow, a false positive).
inline std::string in_quotes(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out.append(1, '"').append(s).append(1, '"');
  return out;
}

// Kind of a JSON value as messages name it.
std::string kind(const json& j);

bool is_ip(const std::string& s);
// 1 to 9 decimal digits (fits any port or count after a range check).
bool is_digits(std::string_view s);
std::string lower(std::string_view s);
// "1.2.3.0/24", "2001:db8::/56" or a plain IP.
bool valid_cidr(const std::string& s);

// A JSON object being decoded: remembers which keys were read so finish()
// can reject the rest (strict decoding, like sing-box).
class Obj {
 public:
  Obj(const json& j, std::string path) : j_(j), path_(std::move(path)) {
    if (!j.is_object()) fail(path_, "expected object, got " + kind(j));
  }

  const std::string& path() const { return path_; }
  std::string at(std::string_view key) const { return child(path_, key); }

  // The value of key, or null when absent or JSON null (Go's zero value).
  const json* get(std::string_view key) {
    seen_.insert(std::string(key));
    auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) return nullptr;
    return &*it;
  }

  // Rejects a field sing-box has but we cannot honour, unless it is
  // present only in a disabled form (false, or an object with enabled false).
  void refuse_enabled(std::string_view key, const std::string& reason) {
    const json* v = get(key);
    if (!v) return;
    bool enabled = true;
    if (v->is_boolean()) {
      enabled = v->get<bool>();
    } else if (v->is_object()) {
      auto e = v->find("enabled");
      enabled = e != v->end() && e->is_boolean() && e->get<bool>();
    }
    if (enabled) fail(at(key), "not supported: " + reason);
  }

  void finish() const {
    for (auto it = j_.begin(); it != j_.end(); ++it) {
      if (!seen_.count(it.key())) fail(at(it.key()), "unknown field");
    }
  }

 private:
  const json& j_;
  std::string path_;
  std::set<std::string, std::less<>> seen_;
};

// Scalar fields: absent (or null) gives the default.
std::string get_string(Obj& o, std::string_view key, std::string def = {});
std::string required_string(Obj& o, std::string_view key);
bool get_bool(Obj& o, std::string_view key, bool def = false);
std::uint64_t to_uint(const json& v, const std::string& path, std::uint64_t max);
std::optional<std::uint64_t> get_uint(Obj& o, std::string_view key, std::uint64_t max);
std::uint16_t get_port(Obj& o, std::string_view key);
std::uint16_t required_port(Obj& o, std::string_view key);
int get_count(Obj& o, std::string_view key, int def);
// Go duration string. zero_is_default: "0" (or absent) gives def.
Duration get_duration(Obj& o, std::string_view key, Duration def, bool zero_is_default);
// sing-box's udp_timeout also takes a bare number of seconds.
Duration get_udp_timeout(Obj& o, std::string_view key);
// Listable string: "a" or ["a", "b"].
std::vector<std::string> get_strings(Obj& o, std::string_view key);
// A listable string joined by newlines (PEM blocks, padding schemes).
std::string get_lines(Obj& o, std::string_view key);
std::vector<std::uint16_t> get_ports(Obj& o, std::string_view key);
// routing_mark: integer, or a string in decimal or 0x-hex.
std::uint32_t get_mark(Obj& o, std::string_view key);
// as_is prefer_ipv4 prefer_ipv6 ipv4_only ipv6_only ("" is as_is).
DomainStrategy parse_strategy(const std::string& ds, const std::string& path);
DomainStrategy parse_strategy(Obj& o, std::string_view key);

// Gives every untagged entry a tag and rejects duplicates.
template <class T>
void assign_tags(std::vector<T>& entries, const std::string& array) {
  std::set<std::string> taken;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (entries[i].tag.empty()) continue;
    if (!taken.insert(entries[i].tag).second)
      fail(child(item(array, i), "tag"), "duplicate tag " + in_quotes(entries[i].tag));
  }
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (!entries[i].tag.empty()) continue;
    std::string tag = entries[i].type;
    if (taken.count(tag)) tag = entries[i].type + "-" + std::to_string(i);
    for (int n = 2; taken.count(tag); ++n) tag = entries[i].type + "-" + std::to_string(i) + "-" + std::to_string(n);
    taken.insert(tag);
    entries[i].tag = tag;
  }
}

}  // namespace anytls::config::detail
