// One inbound on every worker (net/workers.hpp): a shard per worker, each a
// complete inbound of its own on that worker's io_context, all listening on
// the same port with SO_REUSEPORT so the kernel spreads the connections.
// Shards share nothing but what the confinement rule shares (router,
// outbounds, SSL_CTX); each is driven only from its own worker's thread, so
// this class hops: stop() posts to each worker, drain() waits until every
// shard has closed its listener, join() waits on each.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "inbound/inbound.hpp"
#include "net/workers.hpp"

namespace anytls::inbound {

class ShardedInbound final : public Inbound {
 public:
  // Builds and starts the shard of one worker listening on `port` (0: the
  // configured port), with SO_REUSEPORT. Error text on failure.
  using Make = std::function<std::string(asio::io_context& io, std::uint16_t port, std::unique_ptr<Inbound>& out)>;
  // Port of a started shard (the one the kernel picked for listen_port 0).
  using PortOf = std::function<std::uint16_t(const Inbound&)>;

  // Builds and starts every shard: the first on worker 0 picks the port,
  // the others bind the same one. Error text on failure (nothing is left
  // running then).
  static std::string create(net::Workers& workers, std::string tag, const Make& make, const PortOf& port_of,
                            std::unique_ptr<Inbound>& out);
  ~ShardedInbound() override;

  const std::string& tag() const override { return tag_; }
  std::error_code start() override { return {}; }  // create() started them
  void stop() override;
  void drain() override;  // returns once every listener is closed
  asio::awaitable<void> join() override;

  // Shard k runs on workers.at(k).
  std::size_t size() const { return shards_.size(); }
  const Inbound& shard(std::size_t k) const { return *shards_[k]; }
  Inbound& shard(std::size_t k) { return *shards_[k]; }
  std::uint16_t port() const { return port_; }

 private:
  ShardedInbound(net::Workers& workers, std::string tag) : workers_(workers), tag_(std::move(tag)) {}
  // Runs f(shard) on the shard's own worker.
  void on_each(void (*f)(Inbound&));

  net::Workers& workers_;
  std::string tag_;
  std::vector<std::unique_ptr<Inbound>> shards_;
  std::uint16_t port_ = 0;
};

}  // namespace anytls::inbound
