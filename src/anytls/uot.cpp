#include "anytls/uot.hpp"

#include "net/socks_address.hpp"

namespace anytls::proto {

namespace {

void put_u16(std::vector<std::uint8_t>& out, std::size_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v));
}

std::uint16_t get_u16(const std::uint8_t* p) { return static_cast<std::uint16_t>((p[0] << 8) | p[1]); }

// The non-connect packet's own address form: 00 v4 / 01 v6 / 02 domain.
bool append_uot_address(std::vector<std::uint8_t>& out, const net::Address& a) {
  const net::IpLiteral ip = net::parse_ip_literal(a.host);
  if (ip.family == net::IpLiteral::v4) {
    out.push_back(0x00);
    out.insert(out.end(), ip.bytes, ip.bytes + 4);
  } else if (ip.family == net::IpLiteral::v6) {
    out.push_back(0x01);
    out.insert(out.end(), ip.bytes, ip.bytes + 16);
  } else {
    if (a.host.empty() || a.host.size() > 255) return false;
    out.push_back(0x02);
    out.push_back(static_cast<std::uint8_t>(a.host.size()));
    out.insert(out.end(), a.host.begin(), a.host.end());
  }
  put_u16(out, a.port);
  return true;
}

}  // namespace

bool append_uot_request(std::vector<std::uint8_t>& out, const UotRequest& r) {
  const std::size_t mark = out.size();
  out.push_back(r.is_connect ? 1 : 0);
  if (!net::append_socks_address(out, r.destination)) {
    out.resize(mark);
    return false;
  }
  return true;
}

Parsed<UotRequest> parse_uot_request(std::span<const std::uint8_t> in) {
  Parsed<UotRequest> r;
  if (in.empty()) return r;
  const auto a = net::parse_socks_address(in.subspan(1));
  if (a.status == net::SocksAddressParse::need_more) return r;
  if (a.status == net::SocksAddressParse::invalid) {
    r.status = Parsed<UotRequest>::invalid;
    return r;
  }
  r.value.is_connect = in[0] != 0;  // Go's binary.Read of a bool: any non-zero is true
  r.value.destination = a.address;
  r.consumed = 1 + a.consumed;
  r.status = Parsed<UotRequest>::ok;
  return r;
}

bool append_uot_connect_packet(std::vector<std::uint8_t>& out, std::span<const std::uint8_t> payload) {
  if (payload.size() > 0xffff) return false;
  put_u16(out, payload.size());
  out.insert(out.end(), payload.begin(), payload.end());
  return true;
}

bool append_uot_packet(std::vector<std::uint8_t>& out, const net::Address& addr,
                       std::span<const std::uint8_t> payload) {
  if (payload.size() > 0xffff) return false;
  const std::size_t mark = out.size();
  if (!append_uot_address(out, addr)) {
    out.resize(mark);
    return false;
  }
  put_u16(out, payload.size());
  out.insert(out.end(), payload.begin(), payload.end());
  return true;
}

Parsed<UotPacket> parse_uot_connect_packet(std::span<const std::uint8_t> in) {
  Parsed<UotPacket> r;
  if (in.size() < 2) return r;
  const std::size_t total = 2 + std::size_t{get_u16(in.data())};
  if (in.size() < total) return r;
  r.value.payload = in.subspan(2, total - 2);
  r.consumed = total;
  r.status = Parsed<UotPacket>::ok;
  return r;
}

Parsed<UotPacket> parse_uot_packet(std::span<const std::uint8_t> in) {
  Parsed<UotPacket> r;
  if (in.empty()) return r;
  std::size_t off = 1, host_len = 0;
  switch (in[0]) {
    case 0x00: host_len = 4; break;
    case 0x01: host_len = 16; break;
    case 0x02:
      if (in.size() < 2) return r;
      host_len = in[1];
      if (host_len == 0) {
        r.status = Parsed<UotPacket>::invalid;
        return r;
      }
      off = 2;
      break;
    default: r.status = Parsed<UotPacket>::invalid; return r;
  }
  const std::size_t header = off + host_len + 2 + 2;  // address, port, length
  if (in.size() < header) return r;
  const std::uint8_t* h = in.data() + off;
  const std::size_t total = header + get_u16(h + host_len + 2);
  if (in.size() < total) return r;
  if (in[0] == 0x02)
    r.value.address.host.assign(reinterpret_cast<const char*>(h), host_len);
  else
    r.value.address.host =
        net::ip_literal_to_string(in[0] == 0x00 ? net::IpLiteral::v4 : net::IpLiteral::v6, h);
  r.value.address.port = get_u16(h + host_len);
  r.value.payload = in.subspan(header, total - header);
  r.consumed = total;
  r.status = Parsed<UotPacket>::ok;
  return r;
}

}  // namespace anytls::proto
