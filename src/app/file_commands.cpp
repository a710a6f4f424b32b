#include "app/file_commands.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "app/cli.hpp"
#include "route/rule_matcher.hpp"
#include "route/rule_set.hpp"
#include "route/rule_set_source.hpp"
#include "route/srs.hpp"
#include "route/srs_writer.hpp"

namespace anytls::app {

// Named, not anonymous: a unity build shares one anonymous namespace among
// neighbouring sources.
namespace file_commands_detail {

namespace fs = std::filesystem;

// A bad input: "error: <what>" and exit 1.
struct InputError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// An output that cannot be written: exit 2.
struct OutputError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A rule-set file, read up to the bound a rule set's file has
// (route::RuleSetBudget::kFile); "stdin" reads standard input.
std::string read_input(const std::string& path) {
  const std::size_t bound = route::RuleSetBudget::kFile;
  std::string out;
  std::istream* in = &std::cin;
  std::ifstream file;
  if (path != "stdin") {
    file.open(path, std::ios::binary);
    if (!file) throw InputError(path + ": cannot read file");
    in = &file;
  }
  char buf[65536];
  while (in->read(buf, sizeof(buf)) || in->gcount() > 0) {
    out.append(buf, static_cast<std::size_t>(in->gcount()));
    if (out.size() > bound)
      throw InputError(path + ": rule-set file over the " + srs::size_text(bound) + " bound for a file");
  }
  if (in->bad()) throw InputError(path + ": cannot read file");
  return out;
}

// A source file's version (1-3) and rules, bounded as a loaded set is: the
// parsed document and what it decodes to, each within the per-set bound.
struct Source {
  std::uint8_t version = 0;
  std::vector<config::RouteRule> rules;
};

Source parse_source(std::string text, const std::string& name) {
  const std::size_t bound = route::RuleSetBudget::kPerSet;
  const std::size_t document = config::rule_set_source_document_bytes(text);
  if (document > bound)
    throw InputError(name + ": rule set needs " + srs::size_text(document) + " as a parsed JSON document, over the " +
                     srs::size_text(bound) + " bound");
  Source out;
  // The version, which the rules' decoder checks (1-3) but does not return.
  {
    const auto doc = nlohmann::json::parse(text, nullptr, false, true);
    if (doc.is_object() && doc.contains("version") && doc["version"].is_number_unsigned())
      out.version = static_cast<std::uint8_t>(doc["version"].get<unsigned>());
  }
  try {
    out.rules = config::parse_rule_set_source(std::move(text), name);
  } catch (const config::ConfigError& e) {
    throw InputError(e.what());
  }
  const std::size_t bytes = route::decoded_bytes(out.rules);
  if (bytes > bound) throw InputError(name + ": " + srs::over_budget(bytes, bound));
  return out;
}

srs::RuleSet parse_binary(const std::string& bytes, const std::string& name) {
  std::string error;
  auto set = srs::decode(
      std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()), error);
  if (!set) throw InputError(name + ": " + error);
  return std::move(*set);
}

// sing-box's default output: the input's extension replaced, or added.
std::string default_output(const std::string& input, const std::string& from, const std::string& to) {
  if (input.size() > from.size() && input.compare(input.size() - from.size(), from.size(), from) == 0)
    return input.substr(0, input.size() - from.size()) + to;
  return input + to;
}

void write_output(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
  out.close();
  if (!out) {
    std::error_code ec;
    fs::remove(path, ec);
    throw OutputError(path + ": cannot write file");
  }
}

std::string source_json(std::uint8_t version, const std::vector<config::RouteRule>& rules, const std::string& name) {
  std::ostringstream out;
  try {
    route::write_source_json(out, version, rules);
  } catch (const std::invalid_argument& e) {
    throw InputError(name + ": " + e.what());
  }
  return out.str();
}

int compile(const std::string& input, std::string output) {
  Source source = parse_source(read_input(input), input);
  srs::RuleSet set;
  try {
    set = route::to_binary(std::move(source.rules), srs::compile_version(source.version));
  } catch (const std::invalid_argument& e) {
    throw InputError(input + ": " + e.what());
  }
  std::string error;
  auto bytes = srs::encode(set, error);
  if (!bytes) throw InputError(input + ": " + error);
  write_output(output.empty() ? default_output(input, ".json", ".srs") : output, *bytes);
  return kExitOk;
}

int decompile(const std::string& input, std::string output) {
  srs::RuleSet set = parse_binary(read_input(input), input);
  const std::uint8_t version = set.version;
  if (output.empty()) output = default_output(input, ".srs", ".json");
  // Streamed: an IP set written as prefixes can be far larger than its ranges.
  std::ofstream out(output, std::ios::binary | std::ios::trunc);
  route::write_source_json(out, version, route::to_source(std::move(set)));
  out.close();
  if (!out) {
    std::error_code ec;
    fs::remove(output, ec);
    throw OutputError(output + ": cannot write file");
  }
  return kExitOk;
}

// sing-box refuses a rule without conditions ("missing conditions").
bool has_conditions(const config::RouteRule& r) {
  if (r.type == "logical") {
    if (r.rules.empty()) return false;
    for (const auto& sub : r.rules)
      if (!has_conditions(sub)) return false;
    return true;
  }
  for (const auto* list : {&r.network, &r.domain, &r.domain_suffix, &r.domain_keyword, &r.domain_regex,
                           &r.source_ip_cidr, &r.ip_cidr, &r.source_port_range, &r.port_range, &r.process_name,
                           &r.process_path, &r.process_path_regex})
    if (!list->empty()) return true;
  return !r.source_ip_range.empty() || !r.ip_range.empty() || !r.source_port.empty() || !r.port.empty();
}

// Whether a rule matches md, as sing-box's rule-set match decides it: its
// metadata carries no network and no source address, so a rule with a
// network or source_ip_cidr item does not hold (before invert).
bool matches(const config::RouteRule& r, const outbound::Metadata& md, const std::string& path) {
  if (r.type == "logical") {
    bool any = false, all = true;
    for (std::size_t i = 0; i < r.rules.size(); ++i) {
      const bool m = matches(r.rules[i], md, path + ".rules[" + std::to_string(i) + "]");
      any = any || m;
      all = all && m;
    }
    return (r.mode == "or" ? any : all) != r.invert;
  }
  if (!r.network.empty() || !r.source_ip_cidr.empty() || !r.source_ip_range.empty()) return r.invert;
  try {
    return route::RuleMatcher(r, path).matches(md);
  } catch (const std::invalid_argument& e) {
    throw InputError(e.what());
  }
}

int match(const std::string& input, const std::string& format, const std::string& target) {
  const std::string content = read_input(input);
  std::vector<config::RouteRule> rules;
  const bool binary = format == "binary";
  if (format == "source") rules = parse_source(content, input).rules;
  else if (binary) rules = route::to_source(parse_binary(content, input));
  else throw InputError("unknown rule-set format: " + format);
  outbound::Metadata md;
  md.destination = net::Address{target, 0};
  for (std::size_t i = 0; i < rules.size(); ++i) {
    const std::string path = "rule_set.rules.[" + std::to_string(i) + "]";
    if (!has_conditions(rules[i])) throw InputError("parse " + path + ": missing conditions");
    if (matches(rules[i], md, path)) std::cerr << "match rules.[" << i << "]: " << route::describe(rules[i], binary) << "\n";
  }
  return kExitOk;
}

// `format` and `upgrade`: the result to stdout (with one more newline, as
// sing-box prints it), or with -w back to the file when it differs, its
// absolute path on stderr.
int print_or_write(const std::string& input, const std::string& before, const std::string& after, bool write) {
  if (!write || input == "stdin") {
    std::cout << after << "\n";
    return kExitOk;
  }
  if (before == after) return kExitOk;
  write_output(input, after);
  std::cerr << fs::absolute(input).string() << "\n";
  return kExitOk;
}

int format(const std::string& input, bool write) {
  const std::string content = read_input(input);
  Source source = parse_source(content, input);
  return print_or_write(input, content, source_json(source.version, source.rules, input), write);
}

// sing-box raises a version 1 source to its newest version and leaves the
// rules as they are (what changes is how a compiled set's suffixes read);
// the newest this build reads and writes is 3.
int upgrade(const std::string& input, bool write) {
  const std::string content = read_input(input);
  Source source = parse_source(content, input);
  if (source.version != 1) {
    std::cerr << "already up-to-date\n";
    return kExitOk;
  }
  return print_or_write(input, content, source_json(3, source.rules, input), write);
}

// sing-box's rule-set merge: every file of -c and of the -C directories,
// sorted by path, merged as configurations are (objects key by key, arrays
// appended), at the highest version of them.
int merge_rule_sets(const std::string& output, const std::vector<std::string>& files,
                    const std::vector<std::string>& dirs) {
  std::vector<config::ConfigSource> sources;
  try {
    for (const auto& f : files) sources.push_back({f, read_input(f)});
    for (const auto& d : dirs)
      for (const auto& f : config::list_config_dir(d)) sources.push_back({f.string(), read_input(f.string())});
  } catch (const config::ConfigError& e) {
    throw InputError(e.what());
  }
  if (sources.empty()) throw InputError("rule-set merge: no input (-c FILE or -C DIR)");
  std::sort(sources.begin(), sources.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  std::uint8_t version = 0;
  for (const auto& s : sources) version = std::max(version, parse_source(s.text, s.name).version);
  Source merged;
  try {
    merged = parse_source(sources.size() == 1 ? sources[0].text : config::merged_json(sources), "merged rule-set");
  } catch (const config::ConfigError& e) {
    throw InputError(e.what());
  }
  const std::string text = source_json(version, merged.rules, output);
  if (auto parent = fs::path(output).parent_path(); !parent.empty()) fs::create_directories(parent);
  write_output(output, text);
  std::cerr << fs::absolute(output).string() << "\n";
  return kExitOk;
}

// The lines of a PEM file that are not blank (sing-box's trimStringArray).
std::optional<nlohmann::ordered_json> file_lines(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  auto lines = nlohmann::ordered_json::array();
  std::string line;
  while (std::getline(in, line)) {
    if (line.find_first_not_of(" \t\r\n") != std::string::npos) lines.push_back(line);
  }
  return lines;
}

// cmd_merge.go's mergePathResources: a TLS certificate_path (and an
// inbound's key_path) becomes the file's content, inline. The path key
// goes (here a path wins over inline content); a file that cannot be read
// leaves the key as it was, as sing-box does.
void inline_tls_files(nlohmann::ordered_json& config) {
  auto inline_key = [](nlohmann::ordered_json& tls, const char* path_key, const char* content_key) {
    if (!tls.contains(path_key) || !tls[path_key].is_string()) return;
    auto lines = file_lines(tls[path_key].get<std::string>());
    if (!lines) return;
    tls[content_key] = std::move(*lines);
    tls.erase(path_key);
  };
  for (const char* side : {"inbounds", "outbounds"}) {
    if (!config.contains(side) || !config[side].is_array()) continue;
    for (auto& entry : config[side]) {
      if (!entry.is_object() || !entry.contains("tls") || !entry["tls"].is_object()) continue;
      auto& tls = entry["tls"];
      inline_key(tls, "certificate_path", "certificate");
      if (std::string_view(side) == "inbounds") inline_key(tls, "key_path", "key");
    }
  }
}

// sing-box's merge: the configuration as `run` reads it (every -c and -C
// document merged), its TLS files inline, written to `output`.
int merge_configs(const std::string& output, const std::function<std::vector<config::ConfigSource>()>& read_sources) {
  std::string text;
  try {
    const std::vector<config::ConfigSource> sources = read_sources();
    (void)config::load(sources);  // only a valid configuration is merged
    auto merged = nlohmann::ordered_json::parse(config::merged_json(sources));
    inline_tls_files(merged);
    text = merged.dump(2) + "\n";
    (void)config::load(std::vector<config::ConfigSource>{{"merged", text}});
  } catch (const config::ConfigError& e) {
    throw InputError(e.what());
  }
  if (auto parent = fs::path(output).parent_path(); !parent.empty()) fs::create_directories(parent);
  write_output(output, text);
  std::cerr << fs::absolute(output).string() << "\n";
  return kExitOk;
}

struct State {
  CLI::App* compile = nullptr;
  CLI::App* decompile = nullptr;
  CLI::App* match = nullptr;
  CLI::App* format = nullptr;
  CLI::App* upgrade = nullptr;
  CLI::App* rule_set_merge = nullptr;
  CLI::App* merge = nullptr;
  std::string input, output, target, match_format = "source";
  bool write = false;
  std::vector<std::string> files, dirs;
  GlobalOptions global;
};

int run(State& s) {
  if (*s.compile) return compile(s.input, s.output);
  if (*s.decompile) return decompile(s.input, s.output);
  if (*s.match) return match(s.input, s.match_format, s.target);
  if (*s.format) return format(s.input, s.write);
  if (*s.upgrade) return upgrade(s.input, s.write);
  if (*s.rule_set_merge) return merge_rule_sets(s.output, s.files, s.dirs);
  return merge_configs(s.output, s.global.read_sources);
}

}  // namespace file_commands_detail

std::function<std::optional<int>()> add_file_commands(CLI::App& app, GlobalOptions global) {
  using namespace file_commands_detail;
  auto s = std::make_shared<State>();
  s->global = std::move(global);
  auto* rule_set = app.add_subcommand("rule-set", "Manage rule-sets");
  rule_set->require_subcommand(1);
  rule_set->fallthrough();
  s->compile = rule_set->add_subcommand("compile", "Compile rule-set json to binary");
  s->compile->add_option("source-path", s->input, "Rule-set source (JSON); \"stdin\" reads standard input")->required();
  s->compile->add_option("-o,--output", s->output, "Output file (default: <file_name>.srs)");
  s->decompile = rule_set->add_subcommand("decompile", "Decompile rule-set binary to json");
  s->decompile->add_option("binary-path", s->input, "Binary rule-set (.srs); \"stdin\" reads standard input")->required();
  s->decompile->add_option("-o,--output", s->output, "Output file (default: <file_name>.json)");
  s->match = rule_set->add_subcommand("match", "Check if an IP address or a domain matches the rule-set");
  s->match->add_option("rule-set-path", s->input, "Rule-set file; \"stdin\" reads standard input")->required();
  s->match->add_option("address", s->target, "IP address or domain")->required();
  s->match->add_option("-f,--format", s->match_format, "rule-set format (source binary)")->capture_default_str();
  s->format = rule_set->add_subcommand("format", "Format rule-set json");
  s->format->add_option("source-path", s->input, "Rule-set source (JSON)")->required();
  s->format->add_flag("-w,--write", s->write, "write result to (source) file instead of stdout");
  s->upgrade = rule_set->add_subcommand("upgrade", "Upgrade rule-set json");
  s->upgrade->add_option("source-path", s->input, "Rule-set source (JSON)")->required();
  s->upgrade->add_flag("-w,--write", s->write, "write result to (source) file instead of stdout");
  s->rule_set_merge = rule_set->add_subcommand("merge", "Merge rule-set source files");
  s->rule_set_merge->add_option("output-path", s->output, "Output file")->required();
  s->rule_set_merge->add_option("-c,--config", s->files, "set input rule-set file path");
  s->rule_set_merge->add_option("-C,--config-directory", s->dirs, "set input rule-set directory path");
  s->merge = app.add_subcommand("merge", "Merge configurations (-c, -C), TLS certificate and key files inline");
  s->merge->add_option("output-path", s->output, "Output file")->required();
  return [s]() -> std::optional<int> {
    if (!*s->compile && !*s->decompile && !*s->match && !*s->format && !*s->upgrade && !*s->rule_set_merge &&
        !*s->merge)
      return std::nullopt;
    try {
      s->global.enter_workdir();
      return run(*s);
    } catch (const config::ConfigError& e) {
      std::cerr << "error: " << e.what() << "\n";
      return kExitConfig;
    } catch (const InputError& e) {
      std::cerr << "error: " << e.what() << "\n";
      return kExitConfig;
    } catch (const OutputError& e) {
      std::cerr << "error: " << e.what() << "\n";
      return kExitRuntime;
    } catch (const fs::filesystem_error& e) {
      std::cerr << "error: " << e.what() << "\n";
      return kExitRuntime;
    }
  };
}

}  // namespace anytls::app
