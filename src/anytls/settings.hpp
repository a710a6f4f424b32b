// Settings / ServerSettings payload: UTF-8 "key=value" lines joined by '\n'.
#pragma once
#include <map>
#include <string>
#include <string_view>

namespace anytls::proto {

// Split each line at its first '='; lines without '=' are ignored; a later
// duplicate wins. Never fails.
std::map<std::string, std::string> parse_settings(std::string_view text);
// Lines in the map's order, joined by '\n', no trailing newline.
std::string encode_settings(const std::map<std::string, std::string>& kv);

// The client's Settings text, keys in the order the reference sends them:
// "v=2\nclient=<client>\npadding-md5=<md5>".
std::string client_settings(std::string_view client, std::string_view padding_md5);

}  // namespace anytls::proto
