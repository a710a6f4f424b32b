#include "route/rule_set.hpp"

#include <cctype>
#include <fstream>
#include <span>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include "config/load.hpp"
#include "route/srs.hpp"

namespace anytls::route {

RuleSetBudget& RuleSetBudget::process() {
  static RuleSetBudget budget;
  return budget;
}

RuleSetBudget::Charge& RuleSetBudget::Charge::operator=(Charge&& o) noexcept {
  if (this != &o) {
    this->~Charge();
    budget_ = o.budget_;
    bytes_ = o.bytes_;
    o.budget_ = nullptr;
  }
  return *this;
}

RuleSetBudget::Charge::~Charge() {
  if (budget_) budget_->used_.fetch_sub(bytes_, std::memory_order_relaxed);
  budget_ = nullptr;
}

RuleSetBudget::Charge RuleSetBudget::charge(std::size_t n, const std::string& name, const std::string& tag) {
  std::size_t used = used_.load(std::memory_order_relaxed);
  while (true) {
    if (n > total_ || used > total_ - n)
      throw std::invalid_argument(name + ": rule set \"" + tag + "\" needs " + srs::size_text(n) +
                                  " decoded, the loaded rule sets hold " + srs::size_text(used) + " of the " +
                                  srs::size_text(total_) + " bound for all of them");
    if (used_.compare_exchange_weak(used, used + n, std::memory_order_relaxed)) return Charge(this, n);
  }
}

RuleSet::RuleSet(std::string tag) : tag_(std::move(tag)), content_(std::make_shared<const Content>()) {}

bool RuleSet::match(const outbound::Metadata& md, bool ip_cidr_is_source) const {
  auto content = current();  // a remote update may swap the list meanwhile
  for (const auto& r : content->rules)
    if (r.match(md, ip_cidr_is_source)) return true;
  return false;
}

std::shared_ptr<const RuleSet::Content> RuleSet::current() const {
  std::lock_guard lock(mu_);
  return content_;
}

std::size_t RuleSet::size() const { return current()->rules.size(); }

std::size_t RuleSet::charged() const { return current()->charge.bytes(); }

bool RuleSet::needs_process() const {
  auto content = current();
  for (const auto& r : content->rules)
    if (r.needs_process()) return true;
  return false;
}

void RuleSet::replace(std::vector<RuleMatcher> rules) { replace(LoadedRules{std::move(rules), {}}); }

void RuleSet::replace(LoadedRules loaded) {
  auto next = std::make_shared<const Content>(Content{std::move(loaded.rules), std::move(loaded.charge)});
  {
    std::lock_guard lock(mu_);
    content_.swap(next);
  }
  // The old content (now in `next`) goes here unless a reader still holds it.
}

std::vector<RuleMatcher> compile_rules(const std::vector<config::RouteRule>& rules, const std::string& path) {
  std::vector<RuleMatcher> out;
  out.reserve(rules.size());
  for (std::size_t i = 0; i < rules.size(); ++i) out.emplace_back(rules[i], path + "[" + std::to_string(i) + "]");
  return out;
}

config::RouteRule from_srs(srs::Rule&& in) {
  config::RouteRule r;
  r.invert = in.invert;
  if (in.logical) {
    r.type = "logical";
    r.mode = in.mode_or ? "or" : "and";
    for (auto& sub : in.rules) r.rules.push_back(from_srs(std::move(sub)));
    return r;
  }
  r.network = std::move(in.network);
  r.domain = std::move(in.domain);
  r.domain_suffix = std::move(in.domain_suffix);
  r.domain_keyword = std::move(in.domain_keyword);
  r.domain_regex = std::move(in.domain_regex);
  for (const auto& x : in.source_ip_cidr) r.source_ip_range.push_back(config::IpRange{x.first, x.last, x.v4});
  for (const auto& x : in.ip_cidr) r.ip_range.push_back(config::IpRange{x.first, x.last, x.v4});
  r.source_port = std::move(in.source_port);
  r.source_port_range = std::move(in.source_port_range);
  r.port = std::move(in.port);
  r.port_range = std::move(in.port_range);
  r.process_name = std::move(in.process_name);
  r.process_path = std::move(in.process_path);
  r.process_path_regex = std::move(in.process_path_regex);
  return r;
}

namespace {

std::size_t strings_bytes(const std::vector<std::string>& v) {
  std::size_t n = 0;
  for (const auto& s : v) n += s.size() + srs::kStringOverhead;
  return n;
}

}  // namespace

std::size_t decoded_bytes(const std::vector<config::RouteRule>& rules) {
  std::size_t n = 0;
  for (const auto& r : rules) {
    n += sizeof(srs::Rule) + decoded_bytes(r.rules);
    for (const auto* list : {&r.network, &r.domain, &r.domain_suffix, &r.domain_keyword, &r.domain_regex,
                             &r.source_ip_cidr, &r.ip_cidr, &r.source_port_range, &r.port_range, &r.process_name,
                             &r.process_path, &r.process_path_regex, &r.inbound, &r.auth_user, &r.protocol, &r.user,
                             &r.rule_set})
      n += strings_bytes(*list);
    n += (r.source_ip_range.size() + r.ip_range.size()) * sizeof(srs::IpRange);
    n += (r.source_port.size() + r.port.size()) * sizeof(std::uint16_t) + r.user_id.size() * sizeof(std::uint32_t);
  }
  return n;
}

LoadedRules parse_rule_set(std::string content, const std::string& format, const std::string& name,
                           const std::string& tag, RuleSetBudget& budget) {
  if (content.size() > budget.file_bound())
    throw std::invalid_argument(name + ": rule-set file of " + srs::size_text(content.size()) + ", over the " +
                                srs::size_text(budget.file_bound()) + " bound for a file");
  std::vector<config::RouteRule> rules;
  std::size_t bytes = 0;
  if (format == "binary") {
    std::string error;
    auto decoded = srs::decode(
        std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(content.data()), content.size()), error,
        budget.per_set());
    if (!decoded) throw std::invalid_argument(name + ": " + error);
    std::string().swap(content);
    bytes = decoded->decoded_bytes;
    for (auto& r : decoded->rules) rules.push_back(from_srs(std::move(r)));
  } else {
    // The document is bounded like what it decodes to, before it is built.
    const std::size_t document = config::rule_set_source_document_bytes(content);
    if (document > budget.per_set())
      throw std::invalid_argument(name + ": rule set needs " + srs::size_text(document) +
                                  " as a parsed JSON document, over the " + srs::size_text(budget.per_set()) + " bound");
    try {
      rules = config::parse_rule_set_source(std::move(content), name);
    } catch (const config::ConfigError& e) {
      throw std::invalid_argument(e.what());
    }
    bytes = decoded_bytes(rules);
    if (bytes > budget.per_set()) throw std::invalid_argument(name + ": " + srs::over_budget(bytes, budget.per_set()));
  }
  // Charged before the matchers are built: they take about as much again.
  auto charge = budget.charge(bytes, name, tag);
  return LoadedRules{compile_rules(rules, name + ".rules"), std::move(charge)};
}

namespace {

// In one allocation of the file's size (a stringstream would hold it twice).
std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return std::nullopt;
  const auto size = in.tellg();
  if (size < 0) return std::nullopt;
  std::string out(static_cast<std::size_t>(size), '\0');
  in.seekg(0);
  in.read(out.data(), size);
  if (in.gcount() != size) return std::nullopt;
  return out;
}

}  // namespace

std::string RuleSets::cache_path(const std::string& cache_dir, const config::RuleSetOptions& o) {
  // The tag names the file; tags are unique. Characters a path must not carry are replaced.
  std::string name;
  for (char c : o.tag) name += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.') ? c : '_';
  return cache_dir + "/rule-set-" + name + (o.format == "binary" ? ".srs" : ".json");
}

RuleSets::RuleSets(const std::vector<config::RuleSetOptions>& options, const std::string& cache_dir,
                   RuleSetBudget& budget)
    : budget_(&budget) {
  for (std::size_t i = 0; i < options.size(); ++i) {
    const auto& o = options[i];
    const std::string path = "route.rule_set[" + std::to_string(i) + "]";
    auto set = std::make_unique<RuleSet>(o.tag);
    if (o.type == "inline") {
      set->replace(compile_rules(o.rules, path + ".rules"));
    } else if (o.type == "local") {
      auto content = read_file(o.path);
      if (!content) throw std::invalid_argument(path + ".path: cannot read " + o.path);
      set->replace(parse_rule_set(std::move(*content), o.format, path + " (" + o.path + ")", o.tag, budget));
    } else if (o.type == "remote" && !cache_dir.empty()) {
      // Until the first download: the last one kept on disk, if any.
      auto file = cache_path(cache_dir, o);
      if (auto content = read_file(file)) {
        try {
          set->replace(parse_rule_set(std::move(*content), o.format, file, o.tag, budget));
        } catch (const std::invalid_argument& e) {
          spdlog::warn("rule-set[{}]: ignoring the cached copy: {}", o.tag, e.what());
        }
      }
    }
    sets_[o.tag] = std::move(set);
  }
}

const RuleSet* RuleSets::find(std::string_view tag) const {
  auto it = sets_.find(std::string(tag));
  return it == sets_.end() ? nullptr : it->second.get();
}

RuleSet* RuleSets::find(std::string_view tag) {
  auto it = sets_.find(std::string(tag));
  return it == sets_.end() ? nullptr : it->second.get();
}

}  // namespace anytls::route
