// Placeholder until src/app/box.cpp lands: keeps the `anytls` binary linking.
// The owner of box.cpp deletes this file and its line in CMakeLists.txt.
#include <spdlog/spdlog.h>

#include "app/box.hpp"

namespace anytls::app {

int run_box(const config::Options&) {
  spdlog::critical("runtime not built yet");
  return 2;
}

}  // namespace anytls::app
