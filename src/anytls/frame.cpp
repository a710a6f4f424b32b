#include "anytls/frame.hpp"

#include <algorithm>
#include <cstring>

namespace anytls::proto {

void encode_header(std::uint8_t* out, const FrameHeader& h) {
  out[0] = static_cast<std::uint8_t>(h.cmd);
  out[1] = static_cast<std::uint8_t>(h.sid >> 24);
  out[2] = static_cast<std::uint8_t>(h.sid >> 16);
  out[3] = static_cast<std::uint8_t>(h.sid >> 8);
  out[4] = static_cast<std::uint8_t>(h.sid);
  out[5] = static_cast<std::uint8_t>(h.length >> 8);
  out[6] = static_cast<std::uint8_t>(h.length);
}

FrameHeader decode_header(const std::uint8_t* in) {
  FrameHeader h;
  h.cmd = static_cast<Command>(in[0]);  // any u8 is a valid value of the enum
  h.sid = (std::uint32_t{in[1]} << 24) | (std::uint32_t{in[2]} << 16) | (std::uint32_t{in[3]} << 8) |
          std::uint32_t{in[4]};
  h.length = static_cast<std::uint16_t>((in[5] << 8) | in[6]);
  return h;
}

void append_frame(std::vector<std::uint8_t>& out, Command cmd, std::uint32_t sid,
                  std::span<const std::uint8_t> data) {
  const std::size_t frames = data.empty() ? 1 : (data.size() + kMaxFrameData - 1) / kMaxFrameData;
  out.reserve(out.size() + frames * kFrameHeaderSize + data.size());
  do {
    const std::size_t n = std::min(data.size(), kMaxFrameData);
    std::uint8_t hdr[kFrameHeaderSize];
    encode_header(hdr, FrameHeader{cmd, sid, static_cast<std::uint16_t>(n)});
    out.insert(out.end(), hdr, hdr + kFrameHeaderSize);
    out.insert(out.end(), data.begin(), data.begin() + static_cast<std::ptrdiff_t>(n));
    data = data.subspan(n);
  } while (!data.empty());
}

FrameDecoder::Event FrameDecoder::next(std::span<const std::uint8_t>& in) {
  Event ev;
  if (remaining_ > 0) {
    if (in.empty()) return ev;  // need_more
    const std::size_t n = std::min(remaining_, in.size());
    remaining_ -= n;
    ev.kind = Event::data;
    ev.hdr = cur_;
    ev.bytes = in.first(n);
    ev.last = remaining_ == 0;
    in = in.subspan(n);
    return ev;
  }
  if (in.empty()) return ev;  // need_more
  const std::uint8_t* hdr = nullptr;
  if (hdr_have_ == 0 && in.size() >= kFrameHeaderSize) {
    hdr = in.data();  // fast path: the whole header is in this chunk
    in = in.subspan(kFrameHeaderSize);
  } else {
    const std::size_t n = std::min(kFrameHeaderSize - hdr_have_, in.size());
    std::memcpy(hdr_buf_ + hdr_have_, in.data(), n);
    hdr_have_ += n;
    in = in.subspan(n);
    if (hdr_have_ < kFrameHeaderSize) return ev;  // need_more
    hdr_have_ = 0;
    hdr = hdr_buf_;
  }
  cur_ = decode_header(hdr);
  remaining_ = cur_.length;
  ev.kind = Event::header;
  ev.hdr = cur_;
  ev.last = cur_.length == 0;
  return ev;
}

}  // namespace anytls::proto
