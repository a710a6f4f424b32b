// Precompiled header of anytls_lib: the heavy third-party headers only.
#pragma once
#include <asio.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <spdlog/spdlog.h>
#include <fmt/format.h>
#include <memory>
#include <string>
#include <vector>
