#include "route/rule_set.hpp"

#include <cctype>
#include <fstream>
#include <span>
#include <sstream>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include "config/load.hpp"
#include "route/srs.hpp"

namespace anytls::route {

bool RuleSet::match(const outbound::Metadata& md, bool ip_cidr_is_source) const {
  auto rules = current();  // a remote update may swap the list meanwhile
  for (const auto& r : *rules)
    if (r.match(md, ip_cidr_is_source)) return true;
  return false;
}

std::shared_ptr<const std::vector<RuleMatcher>> RuleSet::current() const {
  std::lock_guard lock(mu_);
  return rules_;
}

std::size_t RuleSet::size() const { return current()->size(); }

bool RuleSet::needs_process() const {
  auto rules = current();
  for (const auto& r : *rules)
    if (r.needs_process()) return true;
  return false;
}

void RuleSet::replace(std::vector<RuleMatcher> rules) {
  auto next = std::make_shared<const std::vector<RuleMatcher>>(std::move(rules));
  std::lock_guard lock(mu_);
  rules_.swap(next);
}

std::vector<RuleMatcher> compile_rules(const std::vector<config::RouteRule>& rules, const std::string& path) {
  std::vector<RuleMatcher> out;
  out.reserve(rules.size());
  for (std::size_t i = 0; i < rules.size(); ++i) out.emplace_back(rules[i], path + "[" + std::to_string(i) + "]");
  return out;
}

namespace {

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
  r.source_ip_cidr = std::move(in.source_ip_cidr);
  r.ip_cidr = std::move(in.ip_cidr);
  r.source_port = std::move(in.source_port);
  r.source_port_range = std::move(in.source_port_range);
  r.port = std::move(in.port);
  r.port_range = std::move(in.port_range);
  r.process_name = std::move(in.process_name);
  r.process_path = std::move(in.process_path);
  r.process_path_regex = std::move(in.process_path_regex);
  return r;
}

}  // namespace

std::vector<RuleMatcher> parse_rule_set(std::string_view content, const std::string& format, const std::string& name) {
  std::vector<config::RouteRule> rules;
  if (format == "binary") {
    std::string error;
    auto decoded = srs::decode(
        std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(content.data()), content.size()), error);
    if (!decoded) throw std::invalid_argument(name + ": " + error);
    for (auto& r : decoded->rules) rules.push_back(from_srs(std::move(r)));
  } else {
    try {
      rules = config::parse_rule_set_source(content, name);
    } catch (const config::ConfigError& e) {
      throw std::invalid_argument(e.what());
    }
  }
  return compile_rules(rules, name + ".rules");
}

namespace {

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return ss.str();
}

}  // namespace

std::string RuleSets::cache_path(const std::string& cache_dir, const config::RuleSetOptions& o) {
  // The tag names the file; tags are unique. Characters a path must not carry are replaced.
  std::string name;
  for (char c : o.tag) name += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.') ? c : '_';
  return cache_dir + "/rule-set-" + name + (o.format == "binary" ? ".srs" : ".json");
}

RuleSets::RuleSets(const std::vector<config::RuleSetOptions>& options, const std::string& cache_dir) {
  for (std::size_t i = 0; i < options.size(); ++i) {
    const auto& o = options[i];
    const std::string path = "route.rule_set[" + std::to_string(i) + "]";
    auto set = std::make_unique<RuleSet>(o.tag);
    if (o.type == "inline") {
      set->replace(compile_rules(o.rules, path + ".rules"));
    } else if (o.type == "local") {
      auto content = read_file(o.path);
      if (!content) throw std::invalid_argument(path + ".path: cannot read " + o.path);
      set->replace(parse_rule_set(*content, o.format, path + " (" + o.path + ")"));
    } else if (o.type == "remote" && !cache_dir.empty()) {
      // Until the first download: the last one kept on disk, if any.
      auto file = cache_path(cache_dir, o);
      if (auto content = read_file(file)) {
        try {
          set->replace(parse_rule_set(*content, o.format, file));
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
