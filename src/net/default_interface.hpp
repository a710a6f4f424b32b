// The interface outbound dials bind to when they set no bind_interface
// (route.auto_detect_interface): the main table's default route, kept current
// by tun/interface_monitor, read by the dialer on every worker. Index 0: none
// known, dials are not bound.
#pragma once
#include <atomic>
#include <mutex>
#include <string>

namespace anytls::net {

class DefaultInterface {
 public:
  int index() const { return index_.load(std::memory_order_acquire); }
  std::string name() const {
    std::lock_guard lock(mu_);
    return name_;
  }
  void set(int index, std::string name) {
    {
      std::lock_guard lock(mu_);
      name_ = std::move(name);
    }
    index_.store(index, std::memory_order_release);
  }

 private:
  std::atomic<int> index_{0};
  mutable std::mutex mu_;
  std::string name_;  // for SO_BINDTODEVICE where SO_BINDTOIFINDEX is missing, and logs
};

}  // namespace anytls::net
