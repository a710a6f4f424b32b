// route.rule_set: named lists of headless rules that route rules reference
// with `rule_set`. inline sets come from the config, local ones from a file
// (sing-box's JSON source format or its binary .srs), remote ones from a URL
// (route/rule_set_fetch.hpp) and are cached on disk.
#pragma once
#include <mutex>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/options.hpp"
#include "outbound/outbound.hpp"
#include "route/rule_matcher.hpp"

namespace anytls::route {

class RuleSet {
 public:
  explicit RuleSet(std::string tag) : tag_(std::move(tag)), rules_(std::make_shared<std::vector<RuleMatcher>>()) {}
  const std::string& tag() const { return tag_; }
  // Any rule matching.
  bool match(const outbound::Metadata& md, bool ip_cidr_is_source) const;
  bool needs_process() const;
  std::size_t size() const;
  // A remote set's new content.
  void replace(std::vector<RuleMatcher> rules);

 private:
  // Read by every worker, swapped by the updater on worker 0.
  std::shared_ptr<const std::vector<RuleMatcher>> current() const;
  std::string tag_;
  mutable std::mutex mu_;
  std::shared_ptr<const std::vector<RuleMatcher>> rules_;
};

// Compiles headless rules (path names them in errors: "route.rule_set[0].rules[1]").
std::vector<RuleMatcher> compile_rules(const std::vector<config::RouteRule>& rules, const std::string& path);

// Decodes a rule-set file's content: format "source" (JSON) or "binary"
// (.srs). Throws std::invalid_argument naming `name`.
std::vector<RuleMatcher> parse_rule_set(std::string_view content, const std::string& format, const std::string& name);

class RuleSets {
 public:
  RuleSets() = default;
  // Loads inline and local sets (throws std::invalid_argument naming the
  // path: "route.rule_set[1].path: ..."); remote sets start from their cache
  // file in cache_dir when there is one, empty otherwise.
  RuleSets(const std::vector<config::RuleSetOptions>& options, const std::string& cache_dir);

  const RuleSet* find(std::string_view tag) const;
  RuleSet* find(std::string_view tag);
  // The cache file of a remote set.
  static std::string cache_path(const std::string& cache_dir, const config::RuleSetOptions& o);

 private:
  std::unordered_map<std::string, std::unique_ptr<RuleSet>> sets_;
};

}  // namespace anytls::route
