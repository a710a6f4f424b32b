// The command line in sing-box's shape (CLI11 lives in cli.cpp only):
//   anytls [global options] run | check | format [-w] | version [-n]
//   anytls generate tls-keypair NAME [--months N] [--out-dir DIR [--file-name BASE]]
//   anytls generate rand N [--base64 | --hex]
//   anytls generate uuid
//   anytls [global options] generate link [TAG] [--user NAME] [--server HOST]
//   anytls -v | --version
//   anytls rule-set compile | decompile | match | format | upgrade | merge ...
//   anytls [global options] merge OUTPUT      (app/file_commands.hpp)
// Global options, before or after the command: -c FILE (repeatable, files
// merge as in sing-box; "stdin" reads standard input), -C DIR (every *.json
// of DIR in name order, repeatable), -D DIR (created if missing, then the
// working directory), --disable-color. With neither -c nor -C the config is
// ./config.json. `check` builds everything `run` builds without listening.
// Exit codes: 0 ok, 1 config or usage error ("error: <path>: <what>" on
// stderr), 2 runtime failure.
#pragma once

namespace anytls::app {

inline constexpr int kExitOk = 0;
inline constexpr int kExitConfig = 1;
inline constexpr int kExitRuntime = 2;

int cli_main(int argc, char** argv);

}  // namespace anytls::app
