// route.rule_set: named lists of headless rules that route rules reference
// with `rule_set`. inline sets come from the config, local ones from a file
// (sing-box's JSON source format or its binary .srs), remote ones from a URL
// (route/rule_set_fetch.hpp) and are cached on disk.
#pragma once
#include <atomic>
#include <mutex>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/options.hpp"
#include "outbound/outbound.hpp"
#include "route/rule_matcher.hpp"

namespace anytls::srs {
struct Rule;
}

namespace anytls::route {

// The memory rule sets loaded from files and downloads may hold: one set at
// most per_set bytes decoded (every string with its object, every range,
// port and rule: srs.hpp's count, the same for JSON sets), all sets of the
// process together at most total. A set holds its charge while loaded and
// gives it back when its content goes (a replaced set: when the last
// connection matching against it lets go). Inline sets are part of the
// config and not charged.
class RuleSetBudget {
 public:
  // 256 MiB: a 1.5-million-suffix geosite-sized .srs counts 69 MiB.
  static constexpr std::size_t kPerSet = std::size_t{256} << 20;
  // 1 GiB: four sets at their bound, or one being replaced by a download
  // while the config's others stay loaded.
  static constexpr std::size_t kTotal = std::size_t{1024} << 20;

  // 64 MiB: the largest file or download a set is read from. A JSON set's
  // document takes several times its text while it is parsed (about 7x for
  // a list of short names), before the per-set bound can be applied.
  static constexpr std::size_t kFile = std::size_t{64} << 20;

  explicit RuleSetBudget(std::size_t per_set = kPerSet, std::size_t total = kTotal, std::size_t file = kFile)
      : per_set_(per_set), total_(total), file_(file) {}
  RuleSetBudget(const RuleSetBudget&) = delete;
  RuleSetBudget& operator=(const RuleSetBudget&) = delete;
  // The one every RuleSets uses unless given another (tests).
  static RuleSetBudget& process();

  std::size_t per_set() const { return per_set_; }
  std::size_t file_bound() const { return file_; }
  std::size_t total() const { return total_; }
  std::size_t used() const { return used_.load(std::memory_order_relaxed); }

  // Bytes taken from a budget, given back when destroyed.
  class Charge {
   public:
    Charge() = default;
    Charge(Charge&& o) noexcept : budget_(o.budget_), bytes_(o.bytes_) { o.budget_ = nullptr; }
    Charge& operator=(Charge&& o) noexcept;
    ~Charge();
    std::size_t bytes() const { return bytes_; }

   private:
    friend class RuleSetBudget;
    Charge(RuleSetBudget* b, std::size_t n) : budget_(b), bytes_(n) {}
    RuleSetBudget* budget_ = nullptr;
    std::size_t bytes_ = 0;
  };
  // n bytes for the set `tag`; throws std::invalid_argument starting with
  // `name` and naming the tag and the figures when the total would go over.
  Charge charge(std::size_t n, const std::string& name, const std::string& tag);

 private:
  std::size_t per_set_;
  std::size_t total_;
  std::size_t file_;
  std::atomic<std::size_t> used_{0};
};

// A set's decoded rules and what they hold of the budget.
struct LoadedRules {
  std::vector<RuleMatcher> rules;
  RuleSetBudget::Charge charge;
};

class RuleSet {
 public:
  explicit RuleSet(std::string tag);
  const std::string& tag() const { return tag_; }
  // Any rule matching.
  bool match(const outbound::Metadata& md, bool ip_cidr_is_source) const;
  bool needs_process() const;
  std::size_t size() const;
  // New content (inline rules, or a file's or download's with its charge).
  void replace(std::vector<RuleMatcher> rules);
  void replace(LoadedRules loaded);
  // What the current content holds of the budget.
  std::size_t charged() const;

 private:
  struct Content {
    std::vector<RuleMatcher> rules;
    RuleSetBudget::Charge charge;
  };
  // Read by every worker, swapped by the updater on worker 0.
  std::shared_ptr<const Content> current() const;
  std::string tag_;
  mutable std::mutex mu_;
  std::shared_ptr<const Content> content_;
};

// Compiles headless rules (path names them in errors: "route.rule_set[0].rules[1]").
std::vector<RuleMatcher> compile_rules(const std::vector<config::RouteRule>& rules, const std::string& path);

// A binary set's rule as a headless rule (IP sets as ranges: ip_range).
config::RouteRule from_srs(srs::Rule&& rule);

// The memory decoded rules hold by srs.hpp's count (JSON sets: what they
// decode to, the same way).
std::size_t decoded_bytes(const std::vector<config::RouteRule>& rules);

// Decodes a rule-set file's content: format "source" (JSON) or "binary"
// (.srs), refused over budget.per_set(), charged to the budget (refused
// when that would take the process over budget.total()), then compiled.
// Throws std::invalid_argument naming `name`.
// `content` is released as soon as it is decoded.
LoadedRules parse_rule_set(std::string content, const std::string& format, const std::string& name,
                           const std::string& tag, RuleSetBudget& budget);

class RuleSets {
 public:
  RuleSets() = default;
  // Loads inline and local sets (throws std::invalid_argument naming the
  // path: "route.rule_set[1].path: ..."); remote sets start from their cache
  // file in cache_dir when there is one, empty otherwise.
  RuleSets(const std::vector<config::RuleSetOptions>& options, const std::string& cache_dir,
           RuleSetBudget& budget = RuleSetBudget::process());
  RuleSetBudget& budget() const { return *budget_; }

  const RuleSet* find(std::string_view tag) const;
  RuleSet* find(std::string_view tag);
  // The cache file of a remote set.
  static std::string cache_path(const std::string& cache_dir, const config::RuleSetOptions& o);

 private:
  std::unordered_map<std::string, std::unique_ptr<RuleSet>> sets_;
  RuleSetBudget* budget_ = &RuleSetBudget::process();
};

}  // namespace anytls::route
