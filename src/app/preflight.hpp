// `check` builds everything `run` builds, without listening or dialling:
// the TLS contexts (certificates, keys, CAs, client certificates, cipher
// suites, curves), padding schemes, dialers and the router with its rule
// data. `run` and a SIGHUP reload go through the same check, so a config
// that checks starts.
#pragma once
#include "config/options.hpp"

namespace anytls::app {

// Throws config::ConfigError naming the JSON path:
//   inbounds[0].tls.certificate_path: cannot read /etc/anytls/x.crt
void preflight(const config::Options& options);

// "cannot read certificate_path X" / "cipher_suites: ..." from the TLS layer,
// with the field moved into the JSON path: base.certificate_path: cannot read X.
// Exposed for tests.
void throw_at(const std::string& base, const std::string& text);

}  // namespace anytls::app
