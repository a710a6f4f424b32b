// Share links: the anytls:// URI of a configured outbound, or of the users
// of a configured anytls inbound (`anytls generate link`), and random UUIDs
// (`anytls generate uuid`). config::parse_anytls_uri reads what this writes.
#pragma once
#include <string>
#include <vector>

#include "config/options.hpp"

namespace anytls::app {

// anytls://<password>@<server>:<port>/?sni=..&insecure=1&alpn=..&<pool fields>#<tag>
// Only what differs from a link's defaults is written.
std::string outbound_link(const std::string& tag, const config::AnyTlsOutboundOptions& o);

struct LinkRequest {
  std::string tag;     // empty: the only anytls outbound or inbound
  std::string user;    // inbound: only this user
  std::string server;  // inbound: the address clients dial (else tls.server_name, else a specific listen address)
};

// One link per line to print. Throws config::ConfigError naming what is
// missing ("generate link: no anytls outbound or inbound tagged \"x\"").
std::vector<std::string> share_links(const config::Options& options, const LinkRequest& request);

// Version 4 UUID from the OpenSSL random generator (throws std::runtime_error).
std::string uuid_v4();

}  // namespace anytls::app
