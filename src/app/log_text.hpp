// What a log line may carry: names and texts from peers (a SOCKS5 domain
// may hold any byte but NUL, a sniffed name too) are written so that they
// cannot forge a line or drive a terminal. Pure: no spdlog, no I/O.
#pragma once
#include <string>
#include <string_view>

namespace anytls::app {

// The colour sequences the logger itself writes (ESC [ digits/';' m, see
// log_ids.hpp): escaped like any control character, kept (they change
// colours and nothing else), or left out (the Clash API's /logs).
enum class Colours { escape, keep, strip };

// Whether `text` can be written as it is: printable ASCII and well-formed
// UTF-8 without C0/C1 control characters (colour sequences with keep).
bool log_safe(std::string_view text, Colours colours = Colours::escape);

// Appends `text` to `out` with every byte that log_safe() refuses written
// as an escape: "\n", "\r", "\t", or "\xNN" for other control characters and
// for bytes that are not well-formed UTF-8 ("\u0085" style for C1 controls).
void append_log_safe(std::string_view text, std::string& out, Colours colours = Colours::escape);
std::string log_safe_text(std::string_view text, Colours colours = Colours::escape);

}  // namespace anytls::app
