// The "log" section.
#include "config/sections.hpp"

namespace anytls::config::detail {
namespace {

const std::set<std::string, std::less<>> kLogLevels = {"trace", "debug", "info", "warn",
                                                       "error", "fatal", "panic"};

}  // namespace

LogOptions decode_log(const json& j, const std::string& path) {
  Obj o(j, path);
  LogOptions log;
  log.disabled = get_bool(o, "disabled");
  log.level = get_string(o, "level", std::string(defaults::kLogLevel));
  if (log.level.empty()) log.level = std::string(defaults::kLogLevel);
  if (!kLogLevels.count(log.level))
    fail(o.at("level"), "unknown level " + in_quotes(log.level) + " (trace debug info warn error fatal panic)");
  log.output = get_string(o, "output");
  log.timestamp = get_bool(o, "timestamp");
  o.finish();
  return log;
}

}  // namespace anytls::config::detail
