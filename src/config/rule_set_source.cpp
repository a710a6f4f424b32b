// Rule-set files in sing-box's source format (load.hpp): decoded as
// headless route rules, and their memory estimated before they are parsed.
#include "config/sections.hpp"

namespace anytls::config::detail {
namespace {

// sing-box's rule-set source format: {"version": 1|2|3, "rules": [headless rules]}.
std::vector<RouteRule> decode_rule_set_source(const json& j, const std::string& path) {
  Obj o(j, path);
  auto version = get_uint(o, "version", 1000);
  if (!version) fail(o.at("version"), "missing required field");
  if (*version < 1 || *version > 3) fail(o.at("version"), "unknown rule-set version " + std::to_string(*version) + " (1 2 3)");
  std::vector<RouteRule> out;
  if (const json* rules = o.get("rules")) {
    if (!rules->is_array()) fail(o.at("rules"), "expected array, got " + kind(*rules));
    for (std::size_t i = 0; i < rules->size(); ++i)
      out.push_back(decode_rule_body((*rules)[i], item(o.at("rules"), i), false, true));
  }
  o.finish();
  return out;
}

// Adds up what the document would hold; builds nothing. The figures are
// libstdc++ / glibc on 64 bits: a json value 16 bytes (and as much again of
// spare capacity in its array, on average), a string a heap std::string
// (32) with malloc's 16 and its bytes past the 15 kept inline, an ordered
// object a vector of (key, value) pairs (48 each).
class DocumentCost {
 public:
  std::size_t bytes = 0;
  bool null() { return value(); }
  bool boolean(bool) { return value(); }
  bool number_integer(json::number_integer_t) { return value(); }
  bool number_unsigned(json::number_unsigned_t) { return value(); }
  bool number_float(json::number_float_t, const std::string&) { return value(); }
  bool string(std::string& s) { return value() && add(48 + heap(s.size())); }
  bool binary(json::binary_t& b) { return value() && add(48 + b.size()); }
  bool start_object(std::size_t) { return value() && add(48); }
  bool key(std::string& k) { return add(64 + heap(k.size())); }
  bool end_object() { return true; }
  bool start_array(std::size_t) { return value() && add(48); }
  bool end_array() { return true; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) { return false; }

 private:
  static std::size_t heap(std::size_t n) { return n > 15 ? n + 17 : 0; }
  bool value() { return add(32); }
  bool add(std::size_t n) {
    bytes += n;
    return true;
  }
};

}  // namespace
}  // namespace anytls::config::detail

namespace anytls::config {

std::size_t rule_set_source_document_bytes(std::string_view text) {
  using detail::json;
  detail::DocumentCost cost;
  const bool ok = json::sax_parse(text.begin(), text.end(), &cost, json::input_format_t::json, /*strict=*/true,
                                  /*ignore_comments=*/true);
  return ok ? cost.bytes : 0;
}

std::vector<RouteRule> parse_rule_set_source(std::string text, const std::string& name) {
  detail::json doc = detail::parse(text, name);
  std::string().swap(text);
  return detail::decode_rule_set_source(doc, name);  // `doc` goes on return, before the rules are compiled
}

}  // namespace anytls::config
