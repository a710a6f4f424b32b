// tls.utls.fingerprint names (sing-box's and mihomo's client-fingerprint)
// mapped onto what we can actually send. Only Chrome's ClientHello can be
// produced (BoringSSL, the stack Chrome itself uses); a name that asks for
// another browser is refused rather than answered with Chrome's bytes.
#pragma once
#include <string>
#include <string_view>

namespace anytls::config {

struct Fingerprint {
  std::string canonical;  // "chrome" when accepted
  std::string error;      // why not, when refused (canonical empty)
};

// "" chrome chromium edge random chrome_psk chrome_psk_shuffle
// chrome_padding_psk_shuffle chrome_117 … chrome_132 -> "chrome".
// "random" is mapped to Chrome: it is one of the browsers sing-box picks
// from, and the only one we can be. Names compare case-insensitively.
Fingerprint utls_fingerprint(std::string_view name);

}  // namespace anytls::config
