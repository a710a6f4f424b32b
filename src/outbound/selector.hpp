// Outbound "selector": every connection goes to the member chosen by hand
// (the Clash API's PUT /proxies/{name}); at start the choice kept in
// cache_file, else `default`, else the first member.
#pragma once
#include <mutex>
#include <string>

#include "config/options.hpp"
#include "outbound/group.hpp"

namespace anytls::outbound {

class SelectorOutbound final : public Group {
 public:
  // store: where the choice is kept (null: nowhere); must outlive this.
  SelectorOutbound(std::string tag, const config::SelectorOutboundOptions& options, SelectionStore* store = nullptr);

  std::string_view type() const override { return "selector"; }
  void set_members(std::vector<Outbound*> members) override;
  // Read by every worker's dials, changed by the Clash API on worker 0.
  Outbound* now() const override {
    std::lock_guard lock(mu_);
    return selected_;
  }
  // Makes `tag` the choice and stores it; false when it is not a member.
  bool select(std::string_view tag);

  asio::awaitable<net::Result<std::unique_ptr<net::Conn>>> dial(const Metadata& md) override;
  asio::awaitable<net::Result<std::unique_ptr<net::PacketConn>>> listen_packet(const Metadata& md) override;

 private:
  std::string default_;
  SelectionStore* store_;
  mutable std::mutex mu_;
  Outbound* selected_ = nullptr;
};

}  // namespace anytls::outbound
