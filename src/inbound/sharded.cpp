#include "inbound/sharded.hpp"

#include <future>

#include <asio/post.hpp>

#include "net/on_worker.hpp"

namespace anytls::inbound {

std::string ShardedInbound::create(net::Workers& workers, std::string tag, const Make& make, const PortOf& port_of,
                                   std::unique_ptr<Inbound>& out) {
  std::unique_ptr<ShardedInbound> s(new ShardedInbound(workers, std::move(tag)));
  for (std::size_t k = 0; k < workers.size(); ++k) {
    // Built and started on its own worker's thread (its task group is only
    // ever touched there); this thread waits for it.
    std::unique_ptr<Inbound> shard;
    std::string err;
    const std::uint16_t port = s->port_;
    if (k == net::Workers::current() || !workers.running()) {
      err = make(workers.at(k), port, shard);
    } else {
      std::promise<void> built;
      asio::post(workers.at(k), [&] {
        err = make(workers.at(k), port, shard);
        built.set_value();
      });
      built.get_future().wait();
    }
    if (!err.empty()) {
      s->stop();
      return err;
    }
    if (k == 0) s->port_ = port_of(*shard);
    s->shards_.push_back(std::move(shard));
  }
  out = std::move(s);
  return {};
}

ShardedInbound::~ShardedInbound() = default;

void ShardedInbound::on_each(void (*f)(Inbound&)) {
  for (std::size_t k = 0; k < shards_.size(); ++k) {
    Inbound* shard = shards_[k].get();
    net::on_worker(&workers_.at(k), [f, shard] { f(*shard); });
  }
}

void ShardedInbound::stop() {
  on_each([](Inbound& i) { i.stop(); });
}

void ShardedInbound::drain() {
  // Waits until every shard has closed its listener: a reload that replaces
  // this inbound on the same address binds the new one right after, and the
  // new first shard claims the address alone (no SO_REUSEPORT at its bind),
  // which an old shard still listening would refuse. As in create(), this
  // thread waits for the others; they never wait for it.
  for (std::size_t k = 0; k < shards_.size(); ++k) {
    Inbound* shard = shards_[k].get();
    if (k == net::Workers::current() || !workers_.running()) {
      shard->drain();
      continue;
    }
    std::promise<void> done;
    asio::post(workers_.at(k), [&] {
      shard->drain();
      done.set_value();
    });
    done.get_future().wait();
  }
}

asio::awaitable<void> ShardedInbound::join() {
  for (std::size_t k = 0; k < shards_.size(); ++k) {
    if (k == net::Workers::current()) {
      co_await shards_[k]->join();
    } else {
      auto ex = workers_.at(k).get_executor();
      co_await net::run_on(ex, shards_[k]->join());
    }
  }
}

}  // namespace anytls::inbound
