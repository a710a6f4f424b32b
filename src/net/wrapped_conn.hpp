// A connection that hands every operation to the one it wraps: the base of
// the handles that registries give out (the connection tracker, a group's
// members), which add their bookkeeping around a few operations and must
// pass the rest on unchanged, lease reads and buffer hints included.
#pragma once
#include <memory>
#include <string>
#include <utility>

#include "net/conn.hpp"

namespace anytls::net {

class WrappedConn : public Conn {
 public:
  explicit WrappedConn(std::unique_ptr<Conn> inner) : inner_(std::move(inner)) {}

  asio::awaitable<ReadResult> read_some(asio::mutable_buffer buf) override { return inner_->read_some(buf); }
  asio::awaitable<ReadResult> read_leased(Lease& lease) override { return inner_->read_leased(lease); }
  asio::awaitable<std::error_code> write(asio::const_buffer buf) override { return inner_->write(buf); }
  asio::awaitable<std::error_code> write_spent(Lease& lease, std::size_t n) override {
    return inner_->write_spent(lease, n);
  }
  bool writes_pieces() const override { return inner_->writes_pieces(); }
  asio::awaitable<std::error_code> write_pieces(std::uint8_t* data, std::size_t n, std::size_t piece,
                                                std::size_t header, PieceHeader fill, void* ctx) override {
    return inner_->write_pieces(data, n, piece, header, fill, ctx);
  }
  void shutdown_write() override { inner_->shutdown_write(); }
  void close() override { inner_->close(); }
  asio::awaitable<std::error_code> wait_readable() override { return inner_->wait_readable(); }
  void release_buffers() override { inner_->release_buffers(); }
  std::string failure() const override { return inner_->failure(); }
  WireBytes wire_bytes() const override { return inner_->wire_bytes(); }

 protected:
  Conn& inner() const { return *inner_; }
  Conn* inner_ptr() const { return inner_.get(); }

 private:
  std::unique_ptr<Conn> inner_;
};

}  // namespace anytls::net
