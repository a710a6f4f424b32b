#include "tun/interface_monitor.hpp"

#include <poll.h>
#include <cstring>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/rtnetlink.h>
#include <spdlog/spdlog.h>

#include "tun/netlink.hpp"

namespace anytls::tun {

struct DefaultInterfaceMonitor::State {
  Netlink events;   // multicast: route and link changes
  Netlink queries;  // dumps of the main table
  int stop_fd = -1;
  std::string ignore;
  std::shared_ptr<net::DefaultInterface> target;

  State(Netlink e, Netlink q, std::string skip, std::shared_ptr<net::DefaultInterface> t)
      : events(std::move(e)), queries(std::move(q)), ignore(std::move(skip)), target(std::move(t)) {}
  State(const State&) = delete;
  State& operator=(const State&) = delete;
  ~State() {
    if (stop_fd >= 0) ::close(stop_fd);
  }

  // Looks again and publishes a change. The tun is skipped by index, looked
  // up each time: it may come and go under the same name.
  void update() {
    int skip = ignore.empty() ? 0 : interface_index(ignore);
    int index = 0;
    for (int family : {AF_INET, AF_INET6}) {
      auto found = queries.default_route_interface(family, skip);
      if (!found) {
        spdlog::warn("auto_detect_interface: {}", found.error().text());
        return;
      }
      if (*found != 0) {
        index = *found;
        break;
      }
    }
    if (index == target->index() && (index == 0 || interface_name(index) == target->name())) return;
    std::string name = interface_name(index);
    target->set(index, name);
    if (index == 0) {
      spdlog::warn("auto_detect_interface: no default route; outbound connections are not bound to an interface");
    } else {
      spdlog::info("updated default interface {}, index {}", name, index);
    }
  }

  void run() {
    pollfd fds[2] = {{events.fd(), POLLIN, 0}, {stop_fd, POLLIN, 0}};
    for (;;) {
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        spdlog::warn("auto_detect_interface: poll: {}", std::strerror(errno));
        return;
      }
      if (fds[1].revents) return;
      if (!(fds[0].revents & POLLIN)) continue;
      auto changed = events.read_notifications();
      if (!changed) {
        spdlog::warn("auto_detect_interface: {}", changed.error().text());
        return;
      }
      if (*changed) update();
    }
  }
};

net::Result<std::unique_ptr<DefaultInterfaceMonitor>> DefaultInterfaceMonitor::start(
    std::shared_ptr<net::DefaultInterface> target, std::string ignore) {
  auto events = Netlink::open(RTMGRP_LINK | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE);
  if (!events) return events.error();
  auto queries = Netlink::open();
  if (!queries) return queries.error();
  auto state = std::make_shared<State>(std::move(*events), std::move(*queries), std::move(ignore), target);
  state->stop_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (state->stop_fd < 0) {
    std::error_code ec(errno, std::system_category());
    return net::Error{ec, "eventfd: " + ec.message()};
  }
  // Subscribed before the first look: a change in between is not missed.
  state->update();
  std::unique_ptr<DefaultInterfaceMonitor> m(new DefaultInterfaceMonitor);
  m->target_ = std::move(target);
  m->state_ = state;
  m->thread_ = std::thread([state] { state->run(); });
  return m;
}

DefaultInterfaceMonitor::~DefaultInterfaceMonitor() {
  if (state_ && state_->stop_fd >= 0) {
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(state_->stop_fd, &one, sizeof one);
  }
  if (thread_.joinable()) thread_.join();
}

}  // namespace anytls::tun
