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

// Protocol only (the domain stays empty), so that `protocol` rules match
// (a common one rejects QUIC so that browsers fall back to TCP).
// A UDP flow's first datagram:
//   QUIC: a long-header Initial of version 1 or 2, padded to 1200 bytes as
//   clients must (its ClientHello, and the SNI, are encrypted: not read);
//   STUN: RFC 5389's magic cookie and a length that fits;
//   DTLS: a handshake record of DTLS 1.0 or 1.2 carrying a ClientHello;
//   NTP: 48 bytes or more, version 3 or 4, client mode (the caller checks
//   the port, 123: the header alone is a weak sign);
//   BitTorrent: a uTP SYN, or a DHT query ("d1:ad2:id20:").
Result quic_initial(std::span<const std::uint8_t> datagram);
Result stun_message(std::span<const std::uint8_t> datagram);
Result dtls_client_hello(std::span<const std::uint8_t> datagram);
Result ntp_client(std::span<const std::uint8_t> datagram);
Result bittorrent_datagram(std::span<const std::uint8_t> datagram);
// A TCP stream's first bytes: SSH's identification ("SSH-"), RDP's TPKT
// with an X.224 connection request, BitTorrent's handshake.
Result ssh_banner(std::span<const std::uint8_t> bytes);
Result rdp_request(std::span<const std::uint8_t> bytes);
Result bittorrent_handshake(std::span<const std::uint8_t> bytes);

}  // namespace anytls::inbound::sniff
