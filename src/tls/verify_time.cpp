#include "tls/verify_time.hpp"

#include "net/clock_offset.hpp"

namespace anytls::tls {

namespace {
time_t corrected_seconds() { return std::chrono::system_clock::to_time_t(net::corrected_now()); }
}  // namespace

void apply_verify_time(SSL* ssl) {
  if (!ssl || !net::clock_offset()) return;
  X509_VERIFY_PARAM_set_time(SSL_get0_param(ssl), corrected_seconds());
}

void apply_verify_time(X509_STORE_CTX* ctx) {
  if (!ctx || !net::clock_offset()) return;
  X509_STORE_CTX_set_time(ctx, 0, corrected_seconds());
}

}  // namespace anytls::tls
