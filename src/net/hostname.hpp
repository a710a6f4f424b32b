// Which strings may be looked up as a host name: one check, run before any
// resolver sees a name (net::Resolver and system_lookup, net::Dialer, the
// DNS module's lookup() and the questions it forwards).
//
// Why: rules match the name as a whole string, and resolvers do not all read
// it that way. getaddrinfo() stops at a NUL, so "localhost\0.lan" matches a
// ".lan" rule and then resolves "localhost"; inet_aton() reads "127.1",
// "0x7f.1" and "2130706433" as 127.0.0.1, which an IP rule never sees. So a
// name is refused, with a reason, when it holds:
//   - a NUL or another control character (< 0x20, 0x7F);
//   - a backslash: the DNS module's name text escapes with it ("a\.b" is the
//     one label "a.b", "loc\alhost" is "localhost"), so it is never part
//     of a host name a rule can see as the resolver does;
//   - more than 253 bytes (a trailing dot not counted), a label over 63
//     bytes, or an empty label ("a..b", ".a"; one trailing dot is fine);
//   - nothing at all (or only ".");
//   - a form inet_aton() reads as an IPv4 address that is not a plain
//     dotted quad (asio::ip::make_address accepts those, and they are IP
//     literals, never names).
// Everything else passes: underscores (_dmarc, SRV names), punycode
// ("xn--..."), '*', bytes >= 0x80 (a resolver that cannot use them fails
// on its own, it does not read them as another name).
#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace anytls::net {

// nullopt when `name` may be looked up, else why not ("holds a control
// character", "longer than 253 bytes", ...).
std::optional<std::string> hostname_problem(std::string_view name);

// `name` with control characters, '\\' and bytes >= 0x80 written as \xHH, for
// error messages and logs (a name that was refused is shown this way).
std::string printable_name(std::string_view name);

}  // namespace anytls::net
