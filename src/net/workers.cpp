#include "net/workers.hpp"

#include <sched.h>

#include <atomic>
#include <chrono>

#include <spdlog/spdlog.h>

namespace anytls::net {

namespace {
constexpr auto kStopGrace = std::chrono::seconds(2);
thread_local std::size_t t_worker = 0;
thread_local asio::io_context* t_context = nullptr;
}

Workers::Workers(asio::io_context& main, std::size_t n) {
  if (n == 0) n = 1;
  contexts_.push_back(&main);
  t_context = &main;
  for (std::size_t k = 1; k < n; ++k) {
    // Concurrency hint 1: each context is run by one thread only.
    owned_.push_back(std::make_unique<asio::io_context>(1));
    contexts_.push_back(owned_.back().get());
  }
}

Workers::~Workers() {
  stop();
  if (t_context == contexts_[0]) t_context = nullptr;
}

void Workers::start() {
  if (!threads_.empty()) return;
  for (std::size_t k = 1; k < contexts_.size(); ++k) {
    guards_.push_back(asio::make_work_guard(*contexts_[k]));
    threads_.emplace_back([this, k] {
      t_worker = k;
      t_context = contexts_[k];
      contexts_[k]->run();
    });
  }
}

void Workers::stop() {
  // Each loop first finishes what is queued (closed sessions post their
  // last steps), so nothing is left to be destroyed with its io_context;
  // a loop still busy after the grace period is stopped.
  for (auto& g : guards_) g.reset();
  const auto deadline = std::chrono::steady_clock::now() + kStopGrace;
  for (std::size_t k = 1; k < contexts_.size() && !threads_.empty(); ++k)
    while (!contexts_[k]->stopped() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
  for (std::size_t k = 1; k < contexts_.size(); ++k) contexts_[k]->stop();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
  guards_.clear();
}

std::size_t Workers::current() { return t_worker; }
asio::io_context* Workers::current_context() { return t_context; }

std::size_t Workers::next() {
  auto k = next_++ % contexts_.size();
  return k;
}

std::size_t default_worker_count() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    auto n = static_cast<std::size_t>(CPU_COUNT(&set));
    if (n > 0) return n;
  }
  auto n = std::thread::hardware_concurrency();
  return n > 0 ? n : 1;
}

}  // namespace anytls::net
