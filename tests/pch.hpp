// Precompiled header of the test executables: the heavy third-party headers.
#pragma once
#include <asio.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>
#include <fmt/format.h>
#include <memory>
#include <string>
#include <vector>
