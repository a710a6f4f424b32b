// The Clash API's mode ("Rule", "Global", "Direct", or any name a config
// uses): set by PATCH /configs, read by route rules with "clash_mode". As in
// sing-box, the mode does nothing by itself; rules decide what it means.
// One per process, used on the event loop's thread.
#pragma once
#include <string>
#include <string_view>

namespace anytls::route {

// The current mode (experimental.clash_api.default_mode at start, else "Rule").
std::string clash_mode();
void set_clash_mode(std::string mode);
// Case-insensitive, as sing-box compares modes.
bool clash_mode_is(std::string_view mode);

}  // namespace anytls::route
