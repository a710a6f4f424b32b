#include "app/log_text.hpp"

#include <cstdint>

namespace anytls::app {
namespace {

// Length of the well-formed UTF-8 sequence at s[i] (RFC 3629: no overlong
// forms, no surrogates, nothing above U+10FFFF), 0 when there is none.
std::size_t utf8_length(std::string_view s, std::size_t i, std::uint32_t& cp) {
  const auto b = [&](std::size_t k) { return static_cast<std::uint8_t>(s[i + k]); };
  const std::uint8_t c = b(0);
  std::size_t n;
  std::uint32_t min;
  if (c < 0x80) {
    cp = c;
    return 1;
  } else if (c >= 0xC2 && c <= 0xDF) {
    n = 2, cp = c & 0x1F, min = 0x80;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3, cp = c & 0x0F, min = 0x800;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4, cp = c & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    if ((b(k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(k) & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

bool is_control(std::uint32_t cp) { return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F); }

// Length of a colour sequence (ESC [ [0-9;]* m) at s[i], 0 when there is none.
std::size_t sgr_length(std::string_view s, std::size_t i) {
  if (s.size() - i < 3 || s[i] != '\x1b' || s[i + 1] != '[') return 0;
  for (std::size_t k = i + 2; k < s.size() && k - i < 32; ++k) {
    if (s[k] == 'm') return k - i + 1;
    if (!((s[k] >= '0' && s[k] <= '9') || s[k] == ';')) return 0;
  }
  return 0;
}

}  // namespace

bool log_safe(std::string_view text, Colours colours) {
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<std::uint8_t>(text[i]);
    if (c >= 0x20 && c < 0x7F) {  // the common case
      ++i;
      continue;
    }
    if (colours == Colours::keep) {
      if (const std::size_t k = sgr_length(text, i)) {
        i += k;
        continue;
      }
    }
    std::uint32_t cp = 0;
    const std::size_t n = utf8_length(text, i, cp);
    if (n == 0 || is_control(cp)) return false;
    i += n;
  }
  return true;
}

void append_log_safe(std::string_view text, std::string& out, Colours colours) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<std::uint8_t>(text[i]);
    if (colours != Colours::escape) {
      if (const std::size_t k = sgr_length(text, i)) {
        if (colours == Colours::keep) out.append(text.substr(i, k));
        i += k;
        continue;
      }
    }
    std::uint32_t cp = 0;
    const std::size_t n = (c >= 0x20 && c < 0x7F) ? (cp = c, 1) : utf8_length(text, i, cp);
    if (n != 0 && !is_control(cp)) {
      out.append(text.substr(i, n));
      i += n;
      continue;
    }
    if (n == 0 || cp < 0x80) {
      // A control byte, or a byte that starts no well-formed sequence.
      if (c == '\n') {
        out += "\\n";
      } else if (c == '\r') {
        out += "\\r";
      } else if (c == '\t') {
        out += "\\t";
      } else {
        out += "\\x";
        out += kHex[c >> 4];
        out += kHex[c & 15];
      }
      ++i;
      continue;
    }
    out += "\\u00";  // a C1 control, U+0080..U+009F
    out += kHex[cp >> 4];
    out += kHex[cp & 15];
    i += n;
  }
}

std::string log_safe_text(std::string_view text, Colours colours) {
  std::string out;
  out.reserve(text.size() + 16);
  append_log_safe(text, out, colours);
  return out;
}

}  // namespace anytls::app
