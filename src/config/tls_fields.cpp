// The tls blocks of inbounds, outbounds and DNS servers.
#include "config/sections.hpp"

#include "config/fingerprint.hpp"

namespace anytls::config::detail {
namespace {

std::string get_tls_version(Obj& o, std::string_view key) {
  std::string s = get_string(o, key);
  if (!s.empty() && s != "1.0" && s != "1.1" && s != "1.2" && s != "1.3")
    fail(o.at(key), "invalid TLS version " + in_quotes(s) + " (1.0 1.1 1.2 1.3)");
  return s;
}

void check_versions(const Obj& o, const std::string& min, const std::string& max) {
  if (!min.empty() && !max.empty() && min > max)
    fail(o.at("min_version"), "greater than max_version");
}

// The module that sends Chrome's ClientHello is optional (it needs Debian's
// android-libboringssl-dev, and sanitizer builds leave it out).
void check_utls_available(const std::string& path) {
#ifndef ANYTLS_HAVE_UTLS
  fail(path, "not available in this build: the Chrome ClientHello module (libanytls_utls.so) was not built "
             "(it needs android-libboringssl-dev and libbrotli-dev; sanitizer builds leave it out)");
#else
  (void)path;
#endif
}

UtlsOptions decode_utls(const json& j, const std::string& path) {
  Obj o(j, path);
  UtlsOptions u;
  u.enabled = get_bool(o, "enabled");
  std::string name = get_string(o, "fingerprint");
  o.finish();
  if (!u.enabled) return u;
  auto fp = utls_fingerprint(name);
  if (fp.canonical.empty()) fail(o.at("fingerprint"), fp.error);
  check_utls_available(path);
  u.fingerprint = fp.canonical;
  return u;
}

}  // namespace

InboundTlsOptions decode_inbound_tls(const json& j, const std::string& path) {
  Obj o(j, path);
  InboundTlsOptions t;
  t.enabled = get_bool(o, "enabled");
  t.server_name = get_string(o, "server_name");
  t.alpn = get_strings(o, "alpn");
  t.min_version = get_tls_version(o, "min_version");
  t.max_version = get_tls_version(o, "max_version");
  check_versions(o, t.min_version, t.max_version);
  t.cipher_suites = get_strings(o, "cipher_suites");
  t.certificate = get_lines(o, "certificate");
  t.certificate_path = get_string(o, "certificate_path");
  t.key = get_lines(o, "key");
  t.key_path = get_string(o, "key_path");
  // sing-box's acme object has no "enabled": its presence turns it on, so
  // it is refused before a missing certificate could be blamed instead.
  if (o.get("acme")) fail(o.at("acme"), "not supported: ACME certificate issuance; obtain the certificate elsewhere (e.g. certbot) and set certificate_path and key_path");
  o.refuse_enabled("ech", "ECH needs a TLS stack other than OpenSSL 3.0");
  o.refuse_enabled("reality", "REALITY needs a modified TLS stack");
  o.finish();
  if (t.enabled) {
    if (t.certificate.empty() && t.certificate_path.empty())
      fail(o.at("certificate_path"), "missing required field (or certificate)");
    if (t.key.empty() && t.key_path.empty()) fail(o.at("key_path"), "missing required field (or key)");
  }
  return t;
}

OutboundTlsOptions decode_outbound_tls(const json& j, const std::string& path) {
  Obj o(j, path);
  OutboundTlsOptions t;
  t.enabled = get_bool(o, "enabled");
  t.disable_sni = get_bool(o, "disable_sni");
  t.server_name = get_string(o, "server_name");
  t.insecure = get_bool(o, "insecure");
  t.alpn = get_strings(o, "alpn");
  t.min_version = get_tls_version(o, "min_version");
  t.max_version = get_tls_version(o, "max_version");
  check_versions(o, t.min_version, t.max_version);
  t.cipher_suites = get_strings(o, "cipher_suites");
  t.curve_preferences = get_strings(o, "curve_preferences");
  t.certificate = get_lines(o, "certificate");
  t.certificate_path = get_string(o, "certificate_path");
  t.certificate_public_key_sha256 = get_strings(o, "certificate_public_key_sha256");
  t.client_certificate = get_lines(o, "client_certificate");
  t.client_certificate_path = get_string(o, "client_certificate_path");
  t.client_key = get_lines(o, "client_key");
  t.client_key_path = get_string(o, "client_key_path");
  if (const json* u = o.get("utls")) t.utls = decode_utls(*u, o.at("utls"));
  o.refuse_enabled("ech", "ECH needs a TLS stack other than OpenSSL 3.0");
  o.refuse_enabled("reality", "REALITY needs a modified TLS stack");
  o.refuse_enabled("fragment", "TLS fragmentation needs control over TLS record boundaries that OpenSSL does not give");
  o.refuse_enabled("fragment_fallback_delay", "TLS fragmentation is not supported");
  o.refuse_enabled("record_fragment", "TLS record fragmentation needs control over TLS record boundaries that OpenSSL does not give");
  o.finish();
  if (t.utls.enabled) {
    // The Chrome fingerprint fixes these; honouring them would change it.
    const char* why = "cannot be combined with utls: the Chrome fingerprint fixes it";
    if (!t.min_version.empty()) fail(o.at("min_version"), why);
    if (!t.max_version.empty()) fail(o.at("max_version"), why);
    if (!t.cipher_suites.empty()) fail(o.at("cipher_suites"), why);
    if (!t.curve_preferences.empty()) fail(o.at("curve_preferences"), why);
    if (!t.client_certificate.empty() || !t.client_certificate_path.empty())
      fail(o.at(t.client_certificate.empty() ? "client_certificate_path" : "client_certificate"),
           "not supported with utls (client certificates need the OpenSSL client)");
  }
  bool has_cert = !t.client_certificate.empty() || !t.client_certificate_path.empty();
  bool has_key = !t.client_key.empty() || !t.client_key_path.empty();
  if (has_cert && !has_key) fail(o.at("client_key_path"), "missing required field (or client_key)");
  if (has_key && !has_cert)
    fail(o.at("client_certificate_path"), "missing required field (or client_certificate)");
  return t;
}

}  // namespace anytls::config::detail
