// A task group owns coroutines (seastar's gate, Beast's task_group): every
// coroutine of an inbound, an outbound or a session is spawned into its
// group, which
//   - logs an exception escaping a task, with what the task was doing, and
//     keeps the process running (a bug in one connection is not an outage);
//   - can cancel every task (terminal cancellation reaches the operation
//     each one is waiting on);
//   - can be awaited until empty, so stop() is awaitable and shutdown is a
//     bounded drain instead of a fixed sleep.
// A group lives on one executor (one worker); use it from that thread.
// Tasks may outlive the TaskGroup object: the shared state stays until the
// last task is done.
#pragma once
#include <cstddef>
#include <list>
#include <memory>
#include <string>
#include <string_view>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/cancellation_signal.hpp>

#include "net/signal.hpp"

namespace anytls::net {

class TaskGroup {
 public:
  TaskGroup(const asio::any_io_executor& ex, std::string name);
  ~TaskGroup();
  TaskGroup(const TaskGroup&) = delete;
  TaskGroup& operator=(const TaskGroup&) = delete;

  // Starts `task` on the group's executor. `what` names the task in the log
  // line written if it throws ("[in] connection from 1.2.3.4:5: ...").
  void spawn(asio::awaitable<void> task, std::string what);
  // Asks every running task to stop. Tasks spawned afterwards still run.
  void cancel();
  // Completes when no task is left.
  asio::awaitable<void> join();
  std::size_t size() const;
  const std::string& name() const;

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace anytls::net
