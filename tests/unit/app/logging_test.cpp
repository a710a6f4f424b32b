#include "app/logging.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <spdlog/spdlog.h>

#include "app/generate.hpp"

namespace {

namespace fs = std::filesystem;
using anytls::app::conn_prefix;
using anytls::app::parse_level;
using anytls::app::setup_logging;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

fs::path temp_log(const char* name) {
  fs::path p = fs::path(::testing::TempDir()) / name;
  fs::remove(p);
  return p;
}

TEST(Logging, Levels) {
  EXPECT_EQ(parse_level("trace"), spdlog::level::trace);
  EXPECT_EQ(parse_level("debug"), spdlog::level::debug);
  EXPECT_EQ(parse_level("info"), spdlog::level::info);
  EXPECT_EQ(parse_level("warn"), spdlog::level::warn);
  EXPECT_EQ(parse_level("error"), spdlog::level::err);
  EXPECT_EQ(parse_level("fatal"), spdlog::level::critical);
  EXPECT_EQ(parse_level("panic"), spdlog::level::critical);
}

TEST(Logging, FileOutputLevelAndPattern) {
  fs::path log = temp_log("anytls_logging_test.log");
  anytls::config::LogOptions opts;
  opts.level = "warn";
  opts.output = log.string();
  setup_logging(opts);
  spdlog::info("hidden");
  spdlog::warn("{} visible", conn_prefix(12, 3));
  spdlog::critical("bad");
  std::string text = slurp(log);
  EXPECT_THAT(text, Not(HasSubstr("hidden")));
  EXPECT_THAT(text, HasSubstr("[WARN] [S12/3] visible\n"));
  EXPECT_THAT(text, HasSubstr("[FATAL] bad\n"));

  // Appends; timestamp on.
  opts.level = "debug";
  opts.timestamp = true;
  setup_logging(opts);
  spdlog::debug("[EnsureIdleSession] hello");
  text = slurp(log);
  EXPECT_THAT(text, HasSubstr("[WARN] [S12/3] visible"));
  EXPECT_THAT(text, MatchesRegex("(.|\n)*\n[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:.]{12} \\[DEBUG\\] \\[EnsureIdleSession\\] hello\n"));
  fs::remove(log);
}

TEST(Logging, Disabled) {
  fs::path log = temp_log("anytls_logging_disabled.log");
  anytls::config::LogOptions opts;
  opts.disabled = true;
  opts.level = "trace";
  opts.output = log.string();
  setup_logging(opts);
  spdlog::critical("nothing");
  EXPECT_EQ(slurp(log), "");
  fs::remove(log);
}

TEST(Logging, BadOutputThrows) {
  // A regular file where a directory should be (spdlog creates missing directories).
  fs::path file = temp_log("anytls_logging_not_a_dir");
  std::ofstream(file) << "x";
  anytls::config::LogOptions opts;
  opts.output = (file / "y.log").string();
  EXPECT_THROW(setup_logging(opts), std::runtime_error);
}

TEST(Logging, Prefixes) {
  EXPECT_EQ(conn_prefix(12), "[S12]");
  EXPECT_EQ(conn_prefix(12, 3), "[S12/3]");
}

TEST(Generate, Encodings) {
  std::vector<unsigned char> foobar = {'f', 'o', 'o', 'b', 'a', 'r'};
  EXPECT_EQ(anytls::app::to_base64(foobar), "Zm9vYmFy");
  EXPECT_EQ(anytls::app::to_base64({'f'}), "Zg==");
  EXPECT_EQ(anytls::app::to_base64({}), "");
  EXPECT_EQ(anytls::app::to_hex({0x00, 0xab, 0xff}), "00abff");
  EXPECT_EQ(anytls::app::random_bytes(33).size(), 33u);
}

}  // namespace
