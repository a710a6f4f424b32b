// process_name / process_path / user matchers: which local process owns the
// client end of a connection. Linux only, via /proc: the socket whose local
// address is the connection's source, then the process holding that socket
// inode open. Only for loopback sources (a remote peer has no local process).
#pragma once
#include <optional>

#include <asio/ip/tcp.hpp>

#include "outbound/outbound.hpp"

namespace anytls::route {

// nullopt when the source is not local or no process is found (or /proc is
// not readable: another user's processes under hidepid, for instance).
// Costs a scan of /proc/net/{tcp,udp}[6] and of /proc/*/fd: done only when a
// rule asks for it.
std::optional<outbound::Metadata::Process> find_process(outbound::Network network,
                                                        const asio::ip::tcp::endpoint& source);

}  // namespace anytls::route
