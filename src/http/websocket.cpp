#include "http/websocket.hpp"

#include <openssl/evp.h>
#include <openssl/sha.h>

namespace anytls::http::ws {

std::string accept_key(std::string_view client_key) {
  static constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  std::string in = std::string(client_key) + std::string(kGuid);
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(in.data()), in.size(), digest);
  unsigned char out[4 * ((SHA_DIGEST_LENGTH + 2) / 3) + 1];
  int n = EVP_EncodeBlock(out, digest, SHA_DIGEST_LENGTH);
  return std::string(reinterpret_cast<char*>(out), static_cast<std::size_t>(n));
}

std::string encode_frame(Opcode op, std::string_view payload) {
  std::string f;
  f.reserve(payload.size() + 10);
  f.push_back(static_cast<char>(0x80 | static_cast<std::uint8_t>(op)));
  const std::uint64_t n = payload.size();
  if (n < 126) {
    f.push_back(static_cast<char>(n));
  } else if (n <= 0xffff) {
    f.push_back(static_cast<char>(126));
    f.push_back(static_cast<char>(n >> 8));
    f.push_back(static_cast<char>(n & 0xff));
  } else {
    f.push_back(static_cast<char>(127));
    for (int i = 7; i >= 0; --i) f.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  }
  f.append(payload);
  return f;
}

Parse parse_frame(std::string_view in, std::size_t max_payload, Frame& out, std::size_t& consumed) {
  if (in.size() < 2) return Parse::need_more;
  const auto b0 = static_cast<std::uint8_t>(in[0]);
  const auto b1 = static_cast<std::uint8_t>(in[1]);
  if (b0 & 0x70) return Parse::invalid;  // no extensions were negotiated
  const std::uint8_t op = b0 & 0x0f;
  if ((op > 2 && op < 8) || op > 10) return Parse::invalid;
  const bool masked = b1 & 0x80;
  if (!masked) return Parse::invalid;
  std::uint64_t len = b1 & 0x7f;
  std::size_t pos = 2;
  if (len == 126) {
    if (in.size() < 4) return Parse::need_more;
    len = (static_cast<std::uint64_t>(static_cast<std::uint8_t>(in[2])) << 8) | static_cast<std::uint8_t>(in[3]);
    pos = 4;
  } else if (len == 127) {
    if (in.size() < 10) return Parse::need_more;
    len = 0;
    for (int i = 0; i < 8; ++i) len = (len << 8) | static_cast<std::uint8_t>(in[2 + i]);
    pos = 10;
  }
  const bool control = op >= 8;
  if (control && (len > 125 || !(b0 & 0x80))) return Parse::invalid;
  if (len > max_payload) return Parse::too_large;
  if (in.size() < pos + 4 + len) return Parse::need_more;
  const auto* mask = reinterpret_cast<const std::uint8_t*>(in.data() + pos);
  pos += 4;
  out.fin = b0 & 0x80;
  out.opcode = static_cast<Opcode>(op);
  out.payload.assign(in.data() + pos, static_cast<std::size_t>(len));
  for (std::size_t i = 0; i < out.payload.size(); ++i) out.payload[i] = static_cast<char>(out.payload[i] ^ mask[i % 4]);
  consumed = pos + static_cast<std::size_t>(len);
  return Parse::ok;
}

}  // namespace anytls::http::ws
