#include "inbound/dns_hijack.hpp"

#include <algorithm>
#include <cstring>

#include <asio/error.hpp>
#include <asio/this_coro.hpp>
#include <spdlog/spdlog.h>

#include "net/coro.hpp"

namespace anytls::inbound {

namespace {

// Waits until `timer` is cancelled (the wake-up of a reader).
asio::awaitable<void> wait_wake(std::optional<asio::steady_timer>& timer) {
  if (!timer) timer.emplace(co_await asio::this_coro::executor);
  timer->expires_at(asio::steady_timer::time_point::max());
  (void)co_await timer->async_wait(net::use_tuple);
}

}  // namespace

asio::awaitable<net::ReadResult> DnsPacketConn::read_packet(asio::mutable_buffer buf, net::Address& from) {
  while (answers_.empty()) {
    if (closed_) co_return net::ReadResult{asio::error::operation_aborted, 0};
    co_await wait_wake(wake_);
  }
  Answer a = std::move(answers_.front());
  answers_.pop_front();
  std::size_t n = std::min(buf.size(), a.bytes.size());
  std::memcpy(buf.data(), a.bytes.data(), n);
  from = std::move(a.from);
  co_return net::ReadResult{std::error_code{}, n};
}

asio::awaitable<std::error_code> DnsPacketConn::write_packet(asio::const_buffer buf, const net::Address& to) {
  if (closed_) co_return asio::error::operation_aborted;
  std::span<const std::uint8_t> query(static_cast<const std::uint8_t*>(buf.data()), buf.size());
  auto r = co_await dns_->answer(query, md_);
  if (!r) {
    spdlog::debug("hijack-dns: {}", r.error().text());
    co_return std::error_code{};
  }
  if (!*r || closed_) co_return std::error_code{};  // dropped
  if (answers_.size() >= kMaxWaiting) co_return std::error_code{};  // the client does not read: lose it, as UDP would
  answers_.push_back(Answer{std::move(**r), to});
  if (wake_) wake_->cancel();
  co_return std::error_code{};
}

void DnsPacketConn::close() {
  closed_ = true;
  if (wake_) wake_->cancel();
}

void DnsStreamConn::wake() {
  if (wake_) wake_->cancel();
}

asio::awaitable<net::ReadResult> DnsStreamConn::read_some(asio::mutable_buffer buf) {
  while (out_.empty()) {
    if (closed_) co_return net::ReadResult{asio::error::operation_aborted, 0};
    if (eof_) co_return net::ReadResult{asio::error::eof, 0};
    co_await wait_wake(wake_);
  }
  std::size_t n = std::min(buf.size(), out_.size());
  std::memcpy(buf.data(), out_.data(), n);
  out_.erase(out_.begin(), out_.begin() + static_cast<std::ptrdiff_t>(n));
  co_return net::ReadResult{std::error_code{}, n};
}

asio::awaitable<std::error_code> DnsStreamConn::write(asio::const_buffer buf) {
  if (closed_ || eof_) co_return asio::error::operation_aborted;
  const auto* p = static_cast<const std::uint8_t*>(buf.data());
  in_.insert(in_.end(), p, p + buf.size());
  while (in_.size() >= 2) {
    std::size_t len = static_cast<std::size_t>(in_[0] << 8 | in_[1]);
    if (in_.size() < 2 + len) break;
    std::vector<std::uint8_t> query(in_.begin() + 2, in_.begin() + 2 + static_cast<std::ptrdiff_t>(len));
    in_.erase(in_.begin(), in_.begin() + 2 + static_cast<std::ptrdiff_t>(len));
    std::span<const std::uint8_t> q(query);
    auto r = co_await dns_->answer(q, md_);
    if (!r) co_return asio::error::connection_aborted;
    if (!*r) continue;  // dropped
    if (out_.size() + (*r)->size() + 2 > kMaxPending) co_return asio::error::no_buffer_space;
    out_.push_back(static_cast<std::uint8_t>((*r)->size() >> 8));
    out_.push_back(static_cast<std::uint8_t>((*r)->size()));
    out_.insert(out_.end(), (*r)->begin(), (*r)->end());
    wake();
  }
  // A partial query is at most 2 + 65535 bytes.
  if (in_.size() > 2 + 65535) co_return asio::error::message_size;
  co_return std::error_code{};
}

void DnsStreamConn::shutdown_write() {
  eof_ = true;
  wake();
}

void DnsStreamConn::close() {
  closed_ = true;
  wake();
}

}  // namespace anytls::inbound
