// `anytls tools ...`, sing-box's experimental tools (cmd/sing-box/
// cmd_tools*.go): the configuration's outbounds are built and started (no
// inbounds, as sing-box's PreStart), and the tool goes through the one
// named with -o, or the default outbound (route.final).
//   tools fetch URL...           each body to standard output (any status)
//   tools connect ADDR [-n udp]  standard input/output relayed to ADDR
//   tools synctime [-s SERVER] [-f LAYOUT]   the NTP server's time, printed
// Errors go to standard error as "error: ..." with exit code 1.
#pragma once
#include <string>
#include <vector>

#include "config/options.hpp"

namespace anytls::app {

int tools_fetch(const config::Options& options, const std::string& outbound, const std::vector<std::string>& urls);
// network: "tcp" or "udp". TCP ends when the remote closes (standard
// input's end is passed on as a half-close); UDP sends each read of
// standard input as one datagram and ends once the remote has been quiet
// for kUdpLinger after standard input's end.
int tools_connect(const config::Options& options, const std::string& outbound, const std::string& address,
                  const std::string& network);
// server: "host" or "host:port" (port 123 when none); layout: Go's.
int tools_synctime(const config::Options& options, const std::string& outbound, const std::string& server,
                   const std::string& layout);

}  // namespace anytls::app
