// Domain matchers of a rule: exact names and suffixes in hash sets (a lookup
// walks the host's label boundaries, so cost grows with the host's labels,
// not the set), keywords as substrings, regexes with RE2 (Go's regexp
// syntax, which sing-box configs are written in, in linear time).
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace re2 {
class RE2;
}

namespace anytls::route {

class DomainSet {
 public:
  DomainSet();
  ~DomainSet();
  DomainSet(DomainSet&&) noexcept;
  DomainSet& operator=(DomainSet&&) noexcept;

  void add_domain(std::string_view d);
  // "example.com": it and its subdomains; ".example.com": subdomains only.
  void add_suffix(std::string_view s);
  void add_keyword(std::string_view k);
  // Empty string on success, else RE2's complaint.
  std::string add_regex(std::string_view pattern);

  bool empty() const;
  // host: lower case, no trailing dot (normalize_domain).
  bool matches(std::string_view host) const;

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  using Set = std::unordered_set<std::string, Hash, std::equal_to<>>;
  Set exact_;
  Set suffix_;       // matches itself and subdomains
  Set subdomains_;   // written with a leading dot: subdomains only
  std::vector<std::string> keywords_;
  std::vector<std::unique_ptr<re2::RE2>> regexes_;
};

}  // namespace anytls::route
