// config::DialOptions -> net::DialerOptions (start-up: throws on bad input).
#pragma once
#include "config/options.hpp"
#include "net/dialer.hpp"

namespace anytls::outbound {

// Throws std::invalid_argument ("inet4_bind_address: not an IPv4 address:
// ...") on an invalid bind address. detour is not carried over: the outbound
// that owns the options handles it.
net::DialerOptions make_dialer_options(const config::DialOptions& dial);

}  // namespace anytls::outbound
