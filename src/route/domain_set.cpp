#include "route/domain_set.hpp"

#include <re2/re2.h>

#include "route/rule_matcher.hpp"

namespace anytls::route {

DomainSet::DomainSet() = default;
DomainSet::~DomainSet() = default;
DomainSet::DomainSet(DomainSet&&) noexcept = default;
DomainSet& DomainSet::operator=(DomainSet&&) noexcept = default;

void DomainSet::add_domain(std::string_view d) { exact_.insert(normalize_domain(d)); }

void DomainSet::add_suffix(std::string_view s) {
  if (!s.empty() && s.front() == '.') {
    auto v = normalize_domain(s.substr(1));
    if (!v.empty()) subdomains_.insert(std::move(v));
    return;
  }
  auto v = normalize_domain(s);
  if (!v.empty()) suffix_.insert(std::move(v));
}

void DomainSet::add_keyword(std::string_view k) {
  auto v = normalize_domain(k);
  keywords_.push_back(std::move(v));
}

std::string DomainSet::add_regex(std::string_view pattern) {
  RE2::Options opts;
  opts.set_log_errors(false);
  auto re = std::make_unique<RE2>(re2::StringPiece(pattern.data(), pattern.size()), opts);
  if (!re->ok()) return re->error();
  regexes_.push_back(std::move(re));
  return {};
}

bool DomainSet::empty() const {
  return exact_.empty() && suffix_.empty() && subdomains_.empty() && keywords_.empty() && regexes_.empty();
}

bool DomainSet::matches(std::string_view host) const {
  if (host.empty()) return false;
  if (!exact_.empty() && exact_.find(host) != exact_.end()) return true;
  if (!suffix_.empty() || !subdomains_.empty()) {
    if (suffix_.find(host) != suffix_.end()) return true;
    for (std::size_t dot = host.find('.'); dot != std::string_view::npos; dot = host.find('.', dot + 1)) {
      auto rest = host.substr(dot + 1);
      if (suffix_.find(rest) != suffix_.end() || subdomains_.find(rest) != subdomains_.end()) return true;
    }
  }
  for (const auto& k : keywords_)
    if (host.find(k) != std::string_view::npos) return true;
  for (const auto& re : regexes_)
    if (RE2::PartialMatch(re2::StringPiece(host.data(), host.size()), *re)) return true;
  return false;
}

}  // namespace anytls::route
