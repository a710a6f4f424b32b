#include "anytls/settings.hpp"

namespace anytls::proto {

std::map<std::string, std::string> parse_settings(std::string_view text) {
  std::map<std::string, std::string> out;
  while (true) {
    const std::size_t nl = text.find('\n');
    const std::string_view line = text.substr(0, nl);
    if (const std::size_t eq = line.find('='); eq != std::string_view::npos)
      out.insert_or_assign(std::string(line.substr(0, eq)), std::string(line.substr(eq + 1)));
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  return out;
}

std::string encode_settings(const std::map<std::string, std::string>& kv) {
  std::string out;
  for (const auto& [k, v] : kv) {
    if (!out.empty()) out += '\n';
    out.append(k).append(1, '=').append(v);
  }
  return out;
}

std::string client_settings(std::string_view client, std::string_view padding_md5) {
  std::string out = "v=2\nclient=";
  out.append(client).append("\npadding-md5=").append(padding_md5);
  return out;
}

}  // namespace anytls::proto
