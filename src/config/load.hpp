// Loading the configuration: JSON with // and /* */ comments, several files
// merged as sing-box merges them, strict decoding into config::Options.
//
// Every problem is a ConfigError whose what() is "<json path>: <problem>":
//   outbounds[0].idle_session_timeout: invalid duration "5x"
//   inbounds[1].listen_port: expected unsigned integer, got string
//   outbounds[1].tls.utls: not supported: uTLS fingerprints need a TLS stack other than OpenSSL
// For a file that cannot be read or parsed the path is the file name.
//
// Tags: an outbound or inbound without "tag" gets its type as tag ("direct",
// "anytls"), or "<type>-<index>" when that is taken (index = position in its
// array). With no outbounds at all, one direct outbound tagged "direct" is
// added (as sing-box does). route.final defaults to the first outbound.
//
// In "outbounds" a string is read as an anytls:// URI (parse_anytls_uri).
#pragma once
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "config/options.hpp"

namespace anytls::config {

class ConfigError : public std::runtime_error {
 public:
  ConfigError(std::string path, std::string problem)
      : std::runtime_error(path.empty() ? problem : path + ": " + problem),
        path_(std::move(path)),
        problem_(std::move(problem)) {}
  const std::string& path() const { return path_; }
  const std::string& problem() const { return problem_; }

 private:
  std::string path_;
  std::string problem_;
};

// One JSON document and a name for messages (usually the file path).
struct ConfigSource {
  std::string name;
  std::string text;
};

// Reads a file (ConfigError naming the file if it cannot be read).
ConfigSource read_source(const std::filesystem::path& file);
// The *.json files of a directory, sorted by name (for -C).
std::vector<std::filesystem::path> list_config_dir(const std::filesystem::path& dir);

// Parses, merges (top-level objects merged recursively, arrays concatenated,
// later scalars win), then decodes and validates.
Options load(const std::vector<ConfigSource>& sources);
Options load_string(std::string_view json, std::string_view name = "config");
Options load_file(const std::filesystem::path& file);
Options load_files(const std::vector<std::filesystem::path>& files);

// The merged JSON of several documents (comments dropped), 2-space indented,
// key order kept. Does not validate.
std::string merged_json(const std::vector<ConfigSource>& sources);
// One document normalised for `anytls format`: comments dropped, 2-space
// indent, key order kept, trailing newline. Throws ConfigError on bad JSON.
std::string format_json(const ConfigSource& source);

// anytls://<percent-encoded password>@host[:port][/][?query][#tag], the
// share-link form of an anytls outbound. Port defaults to 443, tag to
// "anytls" (or the fragment). Query keys, as clients write them:
//   sni, peer                                  tls.server_name
//   insecure, allowInsecure, allow_insecure    tls.insecure (1/true/yes, 0/false/no)
//   alpn=h2,http/1.1                           tls.alpn
//   fp, client-fingerprint                     tls.utls {enabled, fingerprint} ("none": off)
//   idle_session_timeout, idle-session-timeout and the other pool fields
//                                              (a bare number of a duration means seconds)
//   udp=1|0           accepted; udp=0 gives a warning (UDP is always carried)
//   security=tls, type=tcp|raw, headerType=none: accepted (other values refused)
// The link is turned into the outbound object it stands for and decoded as
// that object, so every check of the object applies. An IP-literal SNI (or
// no sni and an IP host) gives disable_sni. `path` names the JSON location
// for messages; warnings (things accepted but ignored) are appended.
OutboundOptions parse_anytls_uri(std::string_view uri, const std::string& path = "uri");
OutboundOptions parse_anytls_uri(std::string_view uri, const std::string& path, std::vector<std::string>& warnings);
// A rule-set file in sing-box's source format ({"version": N, "rules": [...]})
// as headless rules. Throws ConfigError; paths start with `name`. The
// text is released once parsed, and the parsed document once the rules are
// decoded: at most two of text, document and rules are held at a time.
std::vector<RouteRule> parse_rule_set_source(std::string text, const std::string& name);
// What parse_rule_set_source's document would take in memory, estimated
// from one pass over the text that builds nothing (nlohmann's SAX events):
// every value, string, key and container with its heap overhead. 0 when
// the text is not JSON (the parse then says why).
std::size_t rule_set_source_document_bytes(std::string_view text);

// The outbound object a link stands for, as JSON text (for `format` and tests).

std::string anytls_uri_to_json(std::string_view uri, const std::string& path, std::vector<std::string>& warnings);

}  // namespace anytls::config
