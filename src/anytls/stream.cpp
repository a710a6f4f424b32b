#include "anytls/stream.hpp"

#include <algorithm>
#include <cstring>

#include "net/coro.hpp"

namespace anytls::proto {

Stream::Stream(std::shared_ptr<StreamTransport> transport, std::uint32_t sid, std::size_t buffer_limit)
    : transport_(std::move(transport)),
      sid_(sid),
      limit_(std::max<std::size_t>(buffer_limit, 1024)),
      readable_(transport_->executor()),
      space_(transport_->executor()) {}

Stream::~Stream() { unbuffer(size_); }

void Stream::unbuffer(std::size_t n) { transport_->receive_budget().give_back(n); }

void Stream::wake_all() {
  readable_.notify_all();
  space_.notify_all();
}

asio::awaitable<net::ReadResult> Stream::read_some(asio::mutable_buffer buf) {
  return read_into(buf, nullptr);
}

asio::awaitable<net::ReadResult> Stream::read_leased(net::Lease& lease) {
  return read_into(lease.buffer(), &lease);
}

// With a lease: buf is ignored; the lease is taken when data is there and
// given back before parking.
asio::awaitable<net::ReadResult> Stream::read_into(asio::mutable_buffer buf, net::Lease* lease) {
  for (;;) {
    if (size_ > 0) {
      if (lease) {
        lease->acquire();
        buf = lease->buffer();
      }
      auto* out = static_cast<std::uint8_t*>(buf.data());
      std::size_t want = std::min(buf.size(), size_);
      std::size_t first = std::min(want, limit_ - head_);
      std::memcpy(out, ring_.get() + head_, first);
      std::memcpy(out + first, ring_.get(), want - first);
      head_ = (head_ + want) % limit_;
      size_ -= want;
      unbuffer(want);
      if (size_ == 0) {
        head_ = 0;
        ring_.reset();  // drained: a stream that goes quiet holds no ring
      }
      space_.notify_all();
      co_return net::ReadResult{{}, want};
    }
    if (failed_)
      co_return net::ReadResult{refused_ ? asio::error::connection_refused : asio::error::connection_aborted, 0};
    if (remote_closed_) co_return net::ReadResult{asio::error::eof, 0};
    if (local_closed_) co_return net::ReadResult{asio::error::operation_aborted, 0};
    if (!lease && buf.size() == 0) co_return net::ReadResult{{}, 0};
    // Park the caller's buffer: deliver() copies straight into it (one copy
    // less, and the ring stays unused while the reader keeps up). The guard
    // unparks it even if this coroutine is destroyed while waiting.
    struct Unpark {
      Stream* s;
      ~Unpark() {
        s->waiting_buf_ = nullptr;
        s->waiting_lease_ = nullptr;
        s->waiting_cap_ = s->waiting_got_ = 0;
      }
    };
    std::size_t got = 0;
    {
      Unpark unpark{this};
      if (lease) {
        lease->reset();  // quiet: wait holding nothing; deliver() takes one
        waiting_lease_ = lease;
      } else {
        waiting_buf_ = static_cast<std::uint8_t*>(buf.data());
        waiting_cap_ = buf.size();
      }
      waiting_got_ = 0;
      co_await readable_.wait();
      got = waiting_got_;
    }
    if (got > 0) co_return net::ReadResult{{}, got};
    // (co_await kept out of the if: GCC 12 rule 2, docs/architecture.md.)
    const bool stop = co_await net::cancelled();
    if (stop) co_return net::ReadResult{asio::error::operation_aborted, 0};
  }
}

asio::awaitable<std::error_code> Stream::write(asio::const_buffer buf) {
  if (failed_) co_return asio::error::connection_aborted;
  if (is_closed()) co_return asio::error::broken_pipe;
  // Keep the session alive across the wait even if the stream is dropped.
  auto transport = transport_;
  co_return co_await transport->write_stream(sid_, static_cast<const std::uint8_t*>(buf.data()), buf.size());
}

asio::awaitable<std::error_code> Stream::write_spent(net::Lease& lease, std::size_t n) {
  if (failed_) co_return asio::error::connection_aborted;
  if (is_closed()) co_return asio::error::broken_pipe;
  auto transport = transport_;
  co_return co_await transport->write_stream_spent(sid_, reinterpret_cast<std::uint8_t*>(lease.data()), n,
                                                   lease.headroom());
}

void Stream::close() {
  if (local_closed_) return;
  local_closed_ = true;
  // Nobody will read what is buffered: give it back to the session.
  unbuffer(size_);
  size_ = head_ = 0;
  ring_.reset();
  transport_->end_stream(sid_, !remote_closed_ && !failed_ && !transport_->transport_closed());
  wake_all();
}

void Stream::report_dial_result(const std::string& error_text) {
  if (synack_sent_ || is_closed()) return;
  synack_sent_ = true;
  transport_->send_synack(sid_, error_text);
  if (!error_text.empty()) close();
}

asio::awaitable<std::optional<net::Error>> Stream::wait_synack() {
  for (;;) {
    if (synack_received_ && !failed_) co_return std::nullopt;
    if (failed_) co_return net::Error{refused_ ? asio::error::connection_refused : asio::error::connection_aborted, failure_};
    if (remote_closed_) co_return net::Error{asio::error::connection_reset, "stream closed by peer before SYNACK"};
    if (local_closed_) co_return net::Error{asio::error::operation_aborted, "stream closed"};
    co_await readable_.wait();
    const bool stop = co_await net::cancelled();
    if (stop) co_return net::Error{asio::error::operation_aborted, "cancelled"};
  }
}

asio::awaitable<void> Stream::deliver(const std::uint8_t* data, std::size_t n) {
  auto& budget = transport_->receive_budget();
  while (n > 0) {
    if (!accepting_data()) co_return;  // dropped: nobody will read it
    if (waiting_lease_ && !waiting_buf_) {
      // A reader waits with an empty lease: fill it for the reader.
      waiting_lease_->acquire();
      waiting_buf_ = reinterpret_cast<std::uint8_t*>(waiting_lease_->data());
      waiting_cap_ = waiting_lease_->size();
    }
    if (waiting_buf_ && size_ == 0 && waiting_got_ < waiting_cap_) {
      std::size_t take = std::min(n, waiting_cap_ - waiting_got_);
      std::memcpy(waiting_buf_ + waiting_got_, data, take);
      waiting_got_ += take;
      data += take;
      n -= take;
      readable_.notify_all();
      continue;
    }
    if (budget.available() == 0) {
      // The session's budget is spent in other streams' rings: wait (this
      // pauses the session reader) until one of them drains or goes away.
      co_await budget.wait_room();
      if (transport_->transport_closed()) co_return;
      continue;
    }
    if (!ring_) ring_ = std::make_unique_for_overwrite<std::uint8_t[]>(limit_);  // untouched pages cost nothing
    std::size_t room = std::min(limit_ - size_, budget.available());
    if (room == 0) {
      // Full: the session reader waits here, which pauses the whole session
      // until this stream's reader catches up.
      co_await space_.wait();
      continue;
    }
    std::size_t take = std::min(room, n);
    std::size_t tail = (head_ + size_) % limit_;
    std::size_t first = std::min(take, limit_ - tail);
    std::memcpy(ring_.get() + tail, data, first);
    std::memcpy(ring_.get(), data + first, take - first);
    size_ += take;
    budget.take(take);
    data += take;
    n -= take;
    readable_.notify_all();
  }
}

void Stream::on_remote_fin() {
  remote_closed_ = true;
  wake_all();
}

void Stream::on_synack(std::string_view error_text) {
  synack_received_ = true;
  if (!error_text.empty()) {
    failed_ = true;
    refused_ = true;
    failure_ = "remote: " + std::string(error_text);
  }
  wake_all();
}

void Stream::on_session_closed(const std::string& reason) {
  if (!failed_ && !local_closed_) {
    failed_ = true;
    failure_ = "session closed: " + reason;
  }
  wake_all();
}

}  // namespace anytls::proto
