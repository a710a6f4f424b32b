// The command line (CLI11 lives in cli.cpp only):
//   anytls run     [-c FILE]... [-C DIR] [-D DIR]
//   anytls check   [-c FILE]... [-C DIR] [-D DIR]
//   anytls format  [-c FILE]... [-C DIR] [-D DIR] [-w]
//   anytls version
//   anytls generate tls-keypair NAME [--months N] [--out-dir DIR [--file-name BASE]]
//   anytls generate rand N [--base64 | --hex]
// -c may repeat (files merge as in sing-box), -C adds every *.json of DIR in
// name order, -D changes the working directory first; with neither -c nor -C
// the config is ./config.json.
// Exit codes: 0 ok, 1 config or usage error ("error: <path>: <what>" on
// stderr), 2 runtime failure.
#pragma once

namespace anytls::app {

inline constexpr int kExitOk = 0;
inline constexpr int kExitConfig = 1;
inline constexpr int kExitRuntime = 2;

int cli_main(int argc, char** argv);

}  // namespace anytls::app
