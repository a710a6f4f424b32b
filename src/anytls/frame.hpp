// AnyTLS frame header codec: cmd u8 | stream id u32 BE | length u16 BE | data.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace anytls::proto {

enum class Command : std::uint8_t {
  waste = 0,
  syn = 1,
  push = 2,
  fin = 3,
  settings = 4,
  alert = 5,
  update_padding_scheme = 6,
  synack = 7,
  heart_request = 8,
  heart_response = 9,
  server_settings = 10,
};

inline constexpr std::size_t kFrameHeaderSize = 7;
inline constexpr std::size_t kMaxFrameData = 65535;

struct FrameHeader {
  Command cmd{};
  std::uint32_t sid = 0;
  std::uint16_t length = 0;
};

// Writes the 7 header bytes at out.
void encode_header(std::uint8_t* out, const FrameHeader& h);
// Reads the 7 header bytes at in (any command value, known or not).
FrameHeader decode_header(const std::uint8_t* in);

// Appends one frame, or several when data is longer than 65535 bytes (each
// part a frame of the same cmd and sid), to out.
void append_frame(std::vector<std::uint8_t>& out, Command cmd, std::uint32_t sid,
                  std::span<const std::uint8_t> data = {});
inline void append_frame(std::vector<std::uint8_t>& out, Command cmd, std::uint32_t sid,
                         std::string_view data) {
  append_frame(out, cmd, sid,
               std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(data.data()), data.size()));
}

// Incremental decoder over a byte stream whose chunking has nothing to do
// with frame boundaries. Payloads are returned in pieces as they arrive, so
// a reader never has to hold a whole 64 KiB frame.
class FrameDecoder {
 public:
  struct Event {
    enum Kind { need_more, header, data } kind = need_more;
    FrameHeader hdr;                      // header: the new frame; data: its frame
    std::span<const std::uint8_t> bytes;  // data: a piece of the payload
    bool last = false;                    // data/header: the frame is complete
  };
  // Consumes bytes from in (advancing it) and returns one event. A header
  // with length 0 is reported with last = true and no data event follows.
  Event next(std::span<const std::uint8_t>& in);

 private:
  std::uint8_t hdr_buf_[kFrameHeaderSize]{};
  std::size_t hdr_have_ = 0;
  FrameHeader cur_{};
  std::size_t remaining_ = 0;  // payload bytes still to come for cur_
};

}  // namespace anytls::proto
