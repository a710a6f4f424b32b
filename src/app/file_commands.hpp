// Commands that turn files into files, in sing-box's shape
// (cmd/sing-box/cmd_rule_set_*.go, cmd_merge.go):
//   anytls rule-set compile [-o FILE] SOURCE.json       (default SOURCE.srs)
//   anytls rule-set decompile [-o FILE] SET.srs         (default SET.json)
//   anytls rule-set match [-f source|binary] SET DOMAIN|IP
//   anytls rule-set format [-w] SOURCE.json
//   anytls rule-set upgrade [-w] SOURCE.json
//   anytls rule-set merge OUTPUT -c SOURCE... -C DIR...
//   anytls merge OUTPUT   (with the global -c / -C / -D)
// "stdin" as an input reads standard input. Errors: "error: <file>: <what>"
// on stderr, exit 1; an output that cannot be written, exit 2.
#pragma once
#include <functional>
#include <optional>
#include <vector>

#include "config/load.hpp"

namespace CLI {
class App;
}

namespace anytls::app {

// cli.cpp's handling of the global options: enter the -D directory (as
// sing-box does for every command, so relative paths are its), and the
// documents of -c and -C. Both throw config::ConfigError.
struct GlobalOptions {
  std::function<void()> enter_workdir;
  std::function<std::vector<config::ConfigSource>()> read_sources;
};

// Adds `rule-set` and `merge` to app. The function returned, called after
// app.parse(), runs the command given and returns its exit code, or nullopt
// when the command given is none of these.
std::function<std::optional<int>()> add_file_commands(CLI::App& app, GlobalOptions global);

}  // namespace anytls::app
