#include "outbound/uot_client.hpp"

#include <cstring>

#include "anytls/uot.hpp"

namespace anytls::outbound {

namespace {

class UotClientConn final : public net::PacketConn {
 public:
  explicit UotClientConn(std::unique_ptr<net::Conn> s) : s_(std::move(s)) { pending_.reserve(4096); }
  ~UotClientConn() override { close(); }

  asio::awaitable<net::ReadResult> read_packet(asio::mutable_buffer buf, net::Address& from) override {
    for (;;) {
      auto parsed = proto::parse_uot_packet(pending_);
      if (parsed.status == proto::Parsed<proto::UotPacket>::invalid)
        co_return net::ReadResult{asio::error::invalid_argument, 0};
      if (parsed.status == proto::Parsed<proto::UotPacket>::ok) {
        std::size_t n = std::min(buf.size(), parsed.value.payload.size());
        std::memcpy(buf.data(), parsed.value.payload.data(), n);
        from = parsed.value.address;
        pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(parsed.consumed));
        co_return net::ReadResult{{}, n};
      }
      // A datagram is at most 64 KiB plus its header: that bounds pending_.
      std::size_t old = pending_.size();
      pending_.resize(old + 16 * 1024);
      auto [ec, n] = co_await s_->read_some(asio::buffer(pending_.data() + old, 16 * 1024));
      pending_.resize(old + n);
      if (ec) co_return net::ReadResult{ec, 0};
    }
  }

  asio::awaitable<std::error_code> write_packet(asio::const_buffer buf, const net::Address& to) override {
    if (buf.size() > 65535) co_return asio::error::message_size;
    // A buffer per call: concurrent writers must not share one.
    std::vector<std::uint8_t> out;
    out.reserve(buf.size() + 300);
    proto::append_uot_packet(out, to, {static_cast<const std::uint8_t*>(buf.data()), buf.size()});
    co_return co_await s_->write(asio::buffer(out));
  }

  void close() override { s_->close(); }

 private:
  std::unique_ptr<net::Conn> s_;
  std::vector<std::uint8_t> pending_;
};

}  // namespace

asio::awaitable<net::Result<std::unique_ptr<net::PacketConn>>> make_uot_client(std::unique_ptr<net::Conn> stream,
                                                                               net::Address destination) {
  std::vector<std::uint8_t> req;
  proto::append_uot_request(req, proto::UotRequest{false, std::move(destination)});
  if (auto ec = co_await stream->write(asio::buffer(req))) co_return net::Error{ec, "uot request: " + ec.message()};
  co_return std::unique_ptr<net::PacketConn>(std::make_unique<UotClientConn>(std::move(stream)));
}

}  // namespace anytls::outbound
