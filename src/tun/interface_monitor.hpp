// route.auto_detect_interface: finds the default interface (the main table's
// default route, IPv4 first, then IPv6; never the tun) and keeps it current
// from rtnetlink's route and link notifications, on a thread of its own. The
// result lands in a net::DefaultInterface the dialers read; each change is
// logged at info ("updated default interface eth0, index 2").
#pragma once
#include <memory>
#include <string>
#include <thread>

#include "net/default_interface.hpp"
#include "net/result.hpp"

namespace anytls::tun {

class DefaultInterfaceMonitor {
 public:
  // Looks the interface up once (so the first dials are bound), then starts
  // following. `ignore`: an interface never taken (the tun's name); "" none.
  static net::Result<std::unique_ptr<DefaultInterfaceMonitor>> start(
      std::shared_ptr<net::DefaultInterface> target, std::string ignore = {});
  ~DefaultInterfaceMonitor();  // stops and joins the thread
  DefaultInterfaceMonitor(const DefaultInterfaceMonitor&) = delete;
  DefaultInterfaceMonitor& operator=(const DefaultInterfaceMonitor&) = delete;

  const std::shared_ptr<net::DefaultInterface>& target() const { return target_; }

  struct State;

 private:
  DefaultInterfaceMonitor() = default;
  std::shared_ptr<net::DefaultInterface> target_;
  std::shared_ptr<State> state_;
  std::thread thread_;
};

}  // namespace anytls::tun
