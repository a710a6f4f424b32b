#include "net/cross_worker_conn.hpp"

#include <asio/post.hpp>

#include "net/workers.hpp"

namespace anytls::net {

struct CrossWorkerFailure {
  std::mutex mu;
  std::string text;
  void note(const Conn& c) {
    auto t = c.failure();
    std::lock_guard lock(mu);
    text = std::move(t);
  }
};

namespace {

// These run on the owner's thread, while the caller waits for them.
asio::awaitable<ReadResult> read_there(std::shared_ptr<Conn> c, asio::mutable_buffer buf, std::shared_ptr<CrossWorkerFailure> failure) {
  auto r = co_await c->read_some(buf);
  if (r.first) failure->note(*c);
  co_return r;
}

asio::awaitable<std::error_code> write_there(std::shared_ptr<Conn> c, asio::const_buffer buf, std::shared_ptr<CrossWorkerFailure> failure) {
  auto ec = co_await c->write(buf);
  if (ec) failure->note(*c);
  co_return ec;
}

asio::awaitable<std::error_code> write_spent_there(std::shared_ptr<Conn> c, Lease* lease, std::size_t n,
                                                   std::shared_ptr<CrossWorkerFailure> failure) {
  auto ec = co_await c->write_spent(*lease, n);
  if (ec) failure->note(*c);
  co_return ec;
}

asio::awaitable<std::error_code> wait_there(std::shared_ptr<Conn> c) { co_return co_await c->wait_readable(); }

}  // namespace

CrossWorkerConn::CrossWorkerConn(asio::io_context& owner, std::shared_ptr<Conn> inner)
    : owner_(owner), inner_(std::move(inner)), failure_(std::make_shared<CrossWorkerFailure>()) {}

std::string CrossWorkerConn::failure() const {
  std::lock_guard lock(failure_->mu);
  return failure_->text;
}

CrossWorkerConn::~CrossWorkerConn() {
  // Dropped on the owner's thread: its destructor touches the owner's state.
  asio::post(owner_, [c = std::move(inner_)]() mutable { c.reset(); });
}

asio::awaitable<ReadResult> CrossWorkerConn::read_some(asio::mutable_buffer buf) {
  auto op = read_there(inner_, buf, failure_);
  co_return co_await run_on(owner_.get_executor(), std::move(op));
}

asio::awaitable<ReadResult> CrossWorkerConn::read_leased(Lease& lease) {
  lease.acquire();
  auto op = read_there(inner_, lease.buffer(), failure_);
  co_return co_await run_on(owner_.get_executor(), std::move(op));
}

asio::awaitable<std::error_code> CrossWorkerConn::write(asio::const_buffer buf) {
  auto op = write_there(inner_, buf, failure_);
  co_return co_await run_on(owner_.get_executor(), std::move(op));
}

asio::awaitable<std::error_code> CrossWorkerConn::write_spent(Lease& lease, std::size_t n) {
  auto op = write_spent_there(inner_, &lease, n, failure_);
  co_return co_await run_on(owner_.get_executor(), std::move(op));
}

asio::awaitable<std::error_code> CrossWorkerConn::wait_readable() {
  auto op = wait_there(inner_);
  co_return co_await run_on(owner_.get_executor(), std::move(op));
}

void CrossWorkerConn::shutdown_write() {
  asio::post(owner_, [c = inner_] { c->shutdown_write(); });
}

void CrossWorkerConn::close() {
  asio::post(owner_, [c = inner_] { c->close(); });
}

void CrossWorkerConn::release_buffers() {
  asio::post(owner_, [c = inner_] { c->release_buffers(); });
}

}  // namespace anytls::net
