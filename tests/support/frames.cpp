#include "support/frames.hpp"

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

#include "anytls/preamble.hpp"

namespace anytls::test {

using proto::Command;

std::vector<std::uint8_t> raw_frame(std::uint8_t cmd, std::uint32_t sid, std::span<const std::uint8_t> data) {
  if (data.size() > proto::kMaxFrameData) throw std::invalid_argument("raw_frame: data too long");
  std::vector<std::uint8_t> out(proto::kFrameHeaderSize);
  proto::encode_header(out.data(),
                       proto::FrameHeader{static_cast<Command>(cmd), sid, static_cast<std::uint16_t>(data.size())});
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

std::vector<std::uint8_t> raw_frame(Command cmd, std::uint32_t sid, std::span<const std::uint8_t> data) {
  return raw_frame(static_cast<std::uint8_t>(cmd), sid, data);
}

std::vector<std::uint8_t> raw_frame(Command cmd, std::uint32_t sid, std::string_view text) {
  return raw_frame(cmd, sid, as_bytes(text));
}

std::vector<std::uint8_t> ipv4_loopback_address(std::uint16_t port) {
  return {0x01, 127, 0, 0, 1, static_cast<std::uint8_t>(port >> 8), static_cast<std::uint8_t>(port)};
}

std::string describe(const RawFrame& f) {
  return fmt::format("frame(cmd={}, sid={}, len={})", f.cmd_value(), f.sid, f.data.size());
}

asio::awaitable<std::optional<RawFrame>> FrameReader::next(bool keep_waste) {
  for (;;) {
    while (!pending_.empty()) {
      auto ev = decoder_.next(pending_);
      if (ev.kind == proto::FrameDecoder::Event::need_more) break;
      if (ev.kind == proto::FrameDecoder::Event::header) cur_ = RawFrame{ev.hdr.cmd, ev.hdr.sid, {}};
      if (ev.kind == proto::FrameDecoder::Event::data) cur_->data.insert(cur_->data.end(), ev.bytes.begin(), ev.bytes.end());
      if (ev.last) {
        RawFrame f = std::move(*cur_);
        cur_.reset();
        if (f.cmd == Command::push) push_sizes_.push_back(f.data.size());
        if (f.cmd == Command::waste && !keep_waste) continue;
        co_return f;
      }
    }
    auto [ec, n] = co_await conn_.read_some(asio::buffer(buf_));
    if (ec) {
      ec_ = ec;
      co_return std::nullopt;
    }
    pending_ = std::span<const std::uint8_t>(buf_.data(), n);
  }
}

asio::awaitable<std::optional<RawFrame>> FrameReader::until(Command cmd, std::vector<RawFrame>* skipped) {
  for (;;) {
    auto f = co_await next();
    if (!f || f->cmd == cmd) co_return f;
    if (skipped) skipped->push_back(std::move(*f));
  }
}

asio::awaitable<void> write_all(net::Conn& conn, std::span<const std::uint8_t> bytes) {
  if (auto ec = co_await conn.write(asio::buffer(bytes.data(), bytes.size())))
    throw std::runtime_error("write: " + ec.message());
}

asio::awaitable<std::error_code> read_exact(net::Conn& conn, std::span<std::uint8_t> out) {
  return read_exact_from(conn, out);
}

asio::awaitable<void> write_preamble(net::Conn& conn, std::string_view password, std::uint16_t padding_len) {
  auto pre = proto::encode_preamble(proto::hash_password(password), padding_len);
  co_await write_all(conn, pre);
}

asio::awaitable<std::vector<std::uint8_t>> read_preamble(net::Conn& conn, std::string_view password) {
  std::vector<std::uint8_t> got;
  std::uint8_t buf[4096];
  for (;;) {
    auto p = proto::parse_preamble(got);
    if (p.status == proto::PreambleParse::complete) {
      auto want = proto::hash_password(password);
      if (!std::equal(want.begin(), want.end(), got.begin())) throw std::runtime_error("preamble: wrong password hash");
      co_return std::vector<std::uint8_t>(got.begin() + static_cast<std::ptrdiff_t>(p.consumed), got.end());
    }
    auto [ec, n] = co_await conn.read_some(asio::buffer(buf));
    if (ec) throw std::runtime_error("preamble: " + ec.message());
    got.insert(got.end(), buf, buf + n);
  }
}

}  // namespace anytls::test
