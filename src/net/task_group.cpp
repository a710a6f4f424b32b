#include "net/task_group.hpp"

#include <exception>
#include <system_error>
#include <vector>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/co_spawn.hpp>
#include <spdlog/spdlog.h>

#include "net/coro.hpp"

namespace anytls::net {

struct TaskGroup::State {
  State(const asio::any_io_executor& e, std::string n) : ex(e), name(std::move(n)), empty(e) {}
  asio::any_io_executor ex;
  std::string name;
  // One cancellation signal per running task; its node is erased when the
  // task completes (std::list: the other nodes stay put).
  std::list<asio::cancellation_signal> signals;
  Signal empty;  // notified when the last task completes
};

namespace {

// The completion handler of one task: unregisters it and reports an
// escaping exception. A cancelled task that was stopped by asio's
// throw-if-cancelled check ends with operation_aborted: a normal end.
struct Done {
  std::shared_ptr<TaskGroup::State> state;
  std::list<asio::cancellation_signal>::iterator it;
  std::string what;

  void operator()(std::exception_ptr e) {
    state->signals.erase(it);
    if (state->signals.empty()) state->empty.notify_all();
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::system_error& x) {
      if (x.code() == asio::error::operation_aborted) return;
      spdlog::error("{}: {}: task failed: {}", state->name, what, x.what());
    } catch (const std::exception& x) {
      spdlog::error("{}: {}: task failed: {}", state->name, what, x.what());
    } catch (...) {
      spdlog::error("{}: {}: task failed with a non-standard exception", state->name, what);
    }
  }
};

}  // namespace

TaskGroup::TaskGroup(const asio::any_io_executor& ex, std::string name)
    : state_(std::make_shared<State>(ex, std::move(name))) {}

TaskGroup::~TaskGroup() = default;

void TaskGroup::spawn(asio::awaitable<void> task, std::string what) {
  auto& st = *state_;
  auto it = st.signals.emplace(st.signals.end());
  auto slot = it->slot();
  asio::co_spawn(st.ex, std::move(task), asio::bind_cancellation_slot(slot, Done{state_, it, std::move(what)}));
}

void TaskGroup::cancel() {
  // Emitting never completes a task synchronously (completions are posted),
  // but iterate over a snapshot of positions anyway.
  std::vector<asio::cancellation_signal*> all;
  for (auto& s : state_->signals) all.push_back(&s);
  for (auto* s : all) s->emit(asio::cancellation_type::terminal);
}

asio::awaitable<void> TaskGroup::join() {
  auto state = state_;
  while (!state->signals.empty()) {
    co_await state->empty.wait();
    const bool stop = co_await cancelled();
    if (stop) co_return;
  }
}

std::size_t TaskGroup::size() const { return state_->signals.size(); }
const std::string& TaskGroup::name() const { return state_->name; }

}  // namespace anytls::net
