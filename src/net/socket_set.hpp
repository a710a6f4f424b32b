// The connections a small control server (metrics, Clash API) has open: at
// most `limit` at once, so that its clients cannot use up the process's
// descriptors, and all of them closed when the server stops. One thread.
#pragma once
#include <cstddef>
#include <list>
#include <memory>
#include <system_error>

#include <asio/ip/tcp.hpp>

namespace anytls::net {

class SocketSet {
 public:
  explicit SocketSet(std::size_t limit) : limit_(limit) {}

  // The socket, shared with the set; null (and the socket closed) when
  // `limit` are open already.
  std::shared_ptr<asio::ip::tcp::socket> admit(asio::ip::tcp::socket socket) {
    socks_.remove_if([](const std::weak_ptr<asio::ip::tcp::socket>& w) { return w.expired(); });
    if (socks_.size() >= limit_) {
      std::error_code ig;
      socket.close(ig);
      return nullptr;
    }
    auto s = std::make_shared<asio::ip::tcp::socket>(std::move(socket));
    socks_.push_back(s);
    return s;
  }

  void close_all() {
    for (auto& w : socks_)
      if (auto s = w.lock()) {
        std::error_code ig;
        s->close(ig);
      }
  }

  std::size_t limit() const { return limit_; }

 private:
  std::size_t limit_;
  std::list<std::weak_ptr<asio::ip::tcp::socket>> socks_;
};

}  // namespace anytls::net
