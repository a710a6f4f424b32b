// Certificate checks against the NTP-corrected clock (net/clock_offset):
// set per connection on the SSL's own verify parameters, so one SSL_CTX
// shared by every worker needs no change and no lock. Nothing happens
// while no offset has been measured (OpenSSL then reads the system clock).
#pragma once
#include <openssl/ssl.h>
#include <openssl/x509.h>

namespace anytls::tls {

// On a new SSL (client or server), before its handshake.
void apply_verify_time(SSL* ssl);
// On a chain check done by hand (ClientContext::verify_der_chain).
void apply_verify_time(X509_STORE_CTX* ctx);

}  // namespace anytls::tls
