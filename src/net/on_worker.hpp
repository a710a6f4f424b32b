// Runs a step on the worker that owns an object (net/workers.hpp): now when
// the calling thread runs that worker's loop (or there are no workers),
// else posted there. Used wherever one worker asks another to close or
// stop something it owns (pool sessions, tracked connections, shards).
#pragma once
#include <utility>

#include <asio/io_context.hpp>
#include <asio/post.hpp>

namespace anytls::net {

template <class F>
void on_worker(asio::io_context* owner, F&& f) {
  if (!owner || owner->get_executor().running_in_this_thread()) {
    f();
    return;
  }
  asio::post(*owner, std::forward<F>(f));
}

}  // namespace anytls::net
