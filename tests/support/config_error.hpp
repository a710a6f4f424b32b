// Config tests: a document the loader must refuse, and the JSON path it must
// name. Messages are "<path>: <problem>", and tests pin both parts.
#pragma once
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/load.hpp"

namespace anytls::test {

// Loads json, expects a ConfigError at exactly `path` whose message starts
// with "<path>: " and contains `fragment`.
inline void expect_config_error(const std::string& json, const std::string& path, const std::string& fragment) {
  SCOPED_TRACE(json);
  try {
    (void)config::load_string(json);
    ADD_FAILURE() << "accepted, expected an error at " << path;
  } catch (const config::ConfigError& e) {
    EXPECT_EQ(e.path(), path) << e.what();
    EXPECT_THAT(e.what(), ::testing::StartsWith(path + ": "));
    EXPECT_THAT(e.what(), ::testing::HasSubstr(fragment));
  }
}

}  // namespace anytls::test
