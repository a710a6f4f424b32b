#include "net/resolver.hpp"
#include "net/hostname.hpp"

#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <utility>

#include <asio/any_io_executor.hpp>
#include <asio/error.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

namespace anytls::net {

namespace {

constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

// One lookup handed to the pool. The awaiting coroutine sleeps on `wake`;
// the worker writes `outcome`, then posts a handler to `ex` that sets `done`
// and cancels `wake`. Every reference the pool holds is moved into that post,
// so the timer is always destroyed on (or by the shutdown of) its executor.
struct Job {
  Job(asio::any_io_executor executor, std::string h)
      : host(std::move(h)), ex(executor), wake(executor, asio::steady_timer::time_point::max()) {}
  std::string host;
  asio::any_io_executor ex;
  asio::steady_timer wake;
  std::atomic<bool> abandoned{false};
  LookupOutcome outcome;  // written by the pool before the post
  bool done = false;      // executor side only
};

void complete(std::shared_ptr<Job> job, LookupOutcome outcome) {
  job->outcome = std::move(outcome);
  asio::any_io_executor ex = job->ex;
  asio::post(ex, [job = std::move(job)]() {
    job->done = true;
    job->wake.cancel();
  });
}

LookupOutcome aborted_outcome() {
  return LookupOutcome{asio::error::operation_aborted, "operation was canceled", {}};
}

Error lookup_error(const std::string& host, const std::error_code& code, const std::string& reason) {
  return Error{code, "lookup " + printable_name(host) + ": " + reason};
}

}  // namespace

LookupOutcome system_lookup(const std::string& host) {
  LookupOutcome out;
  if (host.empty()) {
    out.code = asio::error::host_not_found;
    out.reason = "no such host";
    return out;
  }
  // getaddrinfo() would read a prefix of it, or an IP in another form.
  if (auto problem = hostname_problem(host)) {
    out.code = asio::error::host_not_found;
    out.reason = "invalid host name: " + *problem;
    return out;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &res);
  if (rc != 0) {
    switch (rc) {
      case EAI_NONAME:
#ifdef EAI_NODATA
      case EAI_NODATA:
#endif
        out.code = asio::error::host_not_found;
        out.reason = "no such host";
        break;
      case EAI_AGAIN:
        out.code = asio::error::host_not_found_try_again;
        out.reason = "server misbehaving";
        break;
      case EAI_SYSTEM: {
        int e = errno;
        out.code = std::error_code(e, std::system_category());
        out.reason = out.code.message();
        break;
      }
      default:
        out.code = asio::error::no_recovery;
        out.reason = ::gai_strerror(rc);
        break;
    }
    return out;
  }
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    asio::ip::address a;
    if (ai->ai_family == AF_INET && ai->ai_addrlen >= sizeof(sockaddr_in)) {
      const auto* sin = reinterpret_cast<const sockaddr_in*>(ai->ai_addr);
      asio::ip::address_v4::bytes_type b;
      std::memcpy(b.data(), &sin->sin_addr, b.size());
      a = asio::ip::address_v4(b);
    } else if (ai->ai_family == AF_INET6 && ai->ai_addrlen >= sizeof(sockaddr_in6)) {
      const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(ai->ai_addr);
      asio::ip::address_v6::bytes_type b;
      std::memcpy(b.data(), &sin6->sin6_addr, b.size());
      a = asio::ip::address_v6(b, sin6->sin6_scope_id);
    } else {
      continue;
    }
    if (std::find(out.addresses.begin(), out.addresses.end(), a) == out.addresses.end())
      out.addresses.push_back(a);
  }
  ::freeaddrinfo(res);
  if (out.addresses.empty()) {
    out.code = asio::error::host_not_found;
    out.reason = "no such host";
  }
  return out;
}

struct Resolver::Impl {
  explicit Impl(ResolverOptions o) : opts(std::move(o)) {
    if (opts.threads == 0) opts.threads = 1;
  }

  // Empty on success, else the reason it was refused.
  std::string enqueue(std::shared_ptr<Job> job) {
    {
      std::lock_guard lk(m);
      if (stopping) return "resolver stopped";
      if (queue.size() >= opts.max_queue) return "resolver queue full";
      queue.push_back(std::move(job));
    }
    cv.notify_one();
    return {};
  }

  void run() {
    for (;;) {
      std::shared_ptr<Job> job;
      {
        std::unique_lock lk(m);
        cv.wait(lk, [this] { return stopping || !queue.empty(); });
        if (stopping) return;  // stop() fails what is still queued
        job = std::move(queue.front());
        queue.pop_front();
      }
      if (job->abandoned.load(std::memory_order_acquire)) {
        complete(std::move(job), aborted_outcome());
        continue;
      }
      LookupOutcome outcome;
      try {
        outcome = opts.lookup ? opts.lookup(job->host) : system_lookup(job->host);
      } catch (const std::exception& e) {
        outcome = LookupOutcome{asio::error::no_recovery, e.what(), {}};
      }
      if (!outcome.code && outcome.addresses.empty())
        outcome = LookupOutcome{asio::error::host_not_found, "no such host", {}};
      complete(std::move(job), std::move(outcome));
    }
  }

  void start() {
    workers.reserve(opts.threads);
    for (std::size_t i = 0; i < opts.threads; ++i) {
      workers.emplace_back([this] {
        ::pthread_setname_np(::pthread_self(), "anytls-dns");
        run();
      });
    }
  }

  void stop() {
    std::deque<std::shared_ptr<Job>> left;
    {
      std::lock_guard lk(m);
      if (stopping) return;
      stopping = true;
      left.swap(queue);
    }
    cv.notify_all();
    for (auto& job : left) complete(std::move(job), aborted_outcome());
    for (auto& t : workers)
      if (t.joinable()) t.join();
    workers.clear();
  }

  ResolverOptions opts;
  std::mutex m;
  std::condition_variable cv;
  std::deque<std::shared_ptr<Job>> queue;
  std::vector<std::thread> workers;
  bool stopping = false;
};

namespace {

asio::awaitable<Result<std::vector<asio::ip::address>>> do_lookup(std::shared_ptr<Resolver::Impl> impl,
                                                                 std::string host) {
  std::error_code ec;
  auto literal = asio::ip::make_address(host, ec);
  if (!ec) co_return std::vector<asio::ip::address>{literal};
  // Refused before it is queued: no worker (no getaddrinfo) ever sees it.
  if (auto problem = hostname_problem(host))
    co_return lookup_error(host, asio::error::host_not_found, "invalid host name: " + *problem);

  auto ex = co_await asio::this_coro::executor;
  auto job = std::make_shared<Job>(ex, host);
  if (auto refused = impl->enqueue(job); !refused.empty())
    co_return lookup_error(host, asio::error::no_recovery, refused);

  auto [wait_ec] = co_await job->wake.async_wait(use_tuple);
  (void)wait_ec;  // the timer never expires: any completion is a wake-up or a cancellation
  if (!job->done) {
    job->abandoned.store(true, std::memory_order_release);
    co_return lookup_error(host, asio::error::operation_aborted, "operation was canceled");
  }
  if (job->outcome.code) co_return lookup_error(host, job->outcome.code, job->outcome.reason);
  co_return std::move(job->outcome.addresses);
}

}  // namespace

Resolver::Resolver(ResolverOptions options) : impl_(std::make_shared<Impl>(std::move(options))) {
  impl_->start();
}

Resolver::~Resolver() { stop(); }

void Resolver::stop() { impl_->stop(); }

asio::awaitable<Result<std::vector<asio::ip::address>>> Resolver::lookup(std::string host) {
  return do_lookup(impl_, std::move(host));
}

}  // namespace anytls::net
