// The small coroutine helpers every layer shares. The GCC 12 rules that
// shape how coroutines are written here are in docs/architecture.md
// ("Coroutines and GCC 12"); read them before writing a new coroutine.
#pragma once
#include <system_error>

#include <asio/awaitable.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include "net/clock.hpp"
#include "net/timer.hpp"

namespace anytls::net {

// Completion token of every awaited operation on the data plane: results as
// a tuple, errors as codes (no exceptions).
inline constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

// Waits until t on `clock` (null: the real clock). Returns false when the
// wait was cancelled (e.g. it lost an `||`), true when the time came.
asio::awaitable<bool> sleep_until(Clock::time_point t, Clock* clock = nullptr);
asio::awaitable<bool> sleep_for(Clock::duration d, Clock* clock = nullptr);

// True when the calling coroutine has been asked to stop (it lost an `||`,
// or its task group was cancelled).
asio::awaitable<bool> cancelled();

}  // namespace anytls::net
