// The server side of RFC 6455, as much as the Clash API needs: the
// handshake's accept key, unmasked server frames, and parsing of the
// (masked) client frames. Bytes in, values out; no I/O.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace anytls::http::ws {

// base64(SHA-1(key + the RFC's GUID)): the Sec-WebSocket-Accept value.
std::string accept_key(std::string_view client_key);

enum class Opcode : std::uint8_t { continuation = 0, text = 1, binary = 2, close = 8, ping = 9, pong = 10 };

// One complete, unfragmented server frame (never masked).
std::string encode_frame(Opcode op, std::string_view payload);

struct Frame {
  bool fin = false;
  Opcode opcode = Opcode::text;
  std::string payload;  // unmasked
};

enum class Parse { ok, need_more, invalid, too_large };

// Parses one client frame from the start of `in`. Client frames must be
// masked (RFC 6455 5.1); control frames at most 125 bytes and unfragmented;
// payloads above max_payload are too_large. consumed: the frame's size.
Parse parse_frame(std::string_view in, std::size_t max_payload, Frame& out, std::size_t& consumed);

}  // namespace anytls::http::ws
