#include "outbound/selector.hpp"

#include <spdlog/spdlog.h>

namespace anytls::outbound {

SelectorOutbound::SelectorOutbound(std::string tag, const config::SelectorOutboundOptions& options,
                                   SelectionStore* store)
    : Group(std::move(tag), options.outbounds, options.interrupt_exist_connections),
      default_(options.default_),
      store_(store) {}

void SelectorOutbound::set_members(std::vector<Outbound*> members) {
  Group::set_members(std::move(members));
  selected_ = nullptr;
  if (store_) {
    if (auto kept = store_->load_selected(tag())) {
      selected_ = member(*kept);
      if (!selected_)
        spdlog::warn("outbound/selector[{}]: the stored choice \"{}\" is no longer a member", tag(), *kept);
    }
  }
  if (!selected_ && !default_.empty()) selected_ = member(default_);
  if (!selected_ && !this->members().empty()) selected_ = this->members().front();
}

bool SelectorOutbound::select(std::string_view tag) {
  Outbound* next = member(tag);
  if (!next) return false;
  if (store_) store_->save_selected(this->tag(), tag);
  Outbound* old = nullptr;
  {
    std::lock_guard lock(mu_);
    if (next == selected_) return true;
    old = selected_;
    selected_ = next;
  }
  spdlog::info("outbound/selector[{}]: selected {}", this->tag(), next->tag());
  changed_from(old);
  return true;
}

asio::awaitable<net::Result<std::unique_ptr<net::Conn>>> SelectorOutbound::dial(const Metadata& md) {
  Outbound* out = now();
  if (!out) co_return net::Error{std::make_error_code(std::errc::network_unreachable), "selector has no member"};
  auto conn = co_await out->dial(md);
  if (!conn) co_return conn.error();
  co_return connections().track(std::move(*conn), out);
}

asio::awaitable<net::Result<std::unique_ptr<net::PacketConn>>> SelectorOutbound::listen_packet(const Metadata& md) {
  Outbound* out = now();
  if (!out) co_return net::Error{std::make_error_code(std::errc::network_unreachable), "selector has no member"};
  auto conn = co_await out->listen_packet(md);
  if (!conn) co_return conn.error();
  co_return connections().track(std::move(*conn), out);
}

}  // namespace anytls::outbound
