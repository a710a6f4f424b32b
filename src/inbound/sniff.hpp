// Protocol sniffers for the route action `sniff`: the server name of a TLS
// ClientHello and the Host of an HTTP/1 request, from the first bytes a
// client sends, and DNS queries (a UDP datagram, or a TCP stream's
// length-prefixed first message). Pure functions over the bytes seen so far.
#pragma once
#include <cstdint>
#include <span>
#include <string>

namespace anytls::inbound::sniff {

enum class Status {
  found,      // the protocol is this one; domain may still be empty (no SNI, Host an IP)
  need_more,  // could be this protocol: more bytes needed
  not_this,   // not this protocol
};

struct Result {
  Status status = Status::not_this;
  std::string domain;  // lower case
};

// TLS: records of type 22 carrying a ClientHello (possibly split over
// records); the server_name extension's host_name.
Result tls_client_hello(std::span<const std::uint8_t> bytes);
// HTTP/1.x request line and headers up to the blank line; the Host header
// without its port. An IP literal host gives an empty domain.
Result http_host(std::span<const std::uint8_t> bytes);
// DNS: a standard query (QR clear, opcode 0) with a question, as one UDP
// datagram. Protocol only: the domain stays empty (as sing-box's sniffer
// leaves it), so domain rules do not re-route the DNS flow by query name.
Result dns_query(std::span<const std::uint8_t> datagram);
// DNS over TCP: the 2-byte length and the first query.
Result dns_stream_query(std::span<const std::uint8_t> bytes);

}  // namespace anytls::inbound::sniff
