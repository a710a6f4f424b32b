#include "app/logging.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <spdlog/spdlog.h>

#include "app/generate.hpp"
#include "app/log_buffer.hpp"
#include "app/log_ids.hpp"
#include "app/log_text.hpp"

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

TEST(Logging, FileOutputLevelAndLayout) {
  fs::path log = temp_log("anytls_logging_test.log");
  anytls::config::LogOptions opts;
  opts.level = "warn";
  opts.output = log.string();
  setup_logging(opts);
  spdlog::info("hidden");
  spdlog::warn("{} visible", conn_prefix(12, 3));
  spdlog::critical("bad");
  std::string text = slurp(log);
  // A file without timestamp: "LEVEL message", as sing-box writes it.
  EXPECT_EQ(text, "WARN [S12/3] visible\nFATAL bad\n");

  // Appends; timestamp on: "+0000 2026-11-29 14:50:26 DEBUG ...".
  opts.level = "debug";
  opts.timestamp = true;
  setup_logging(opts);
  spdlog::debug("[EnsureIdleSession] hello");
  spdlog::error("inbound/anytls[in]: oops");
  text = slurp(log);
  EXPECT_THAT(text, HasSubstr("WARN [S12/3] visible\n"));
  EXPECT_THAT(text, MatchesRegex("(.|\n)*\n[+-][0-9]{4} [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} "
                                 "DEBUG \\[EnsureIdleSession\\] hello\n"
                                 "[+-][0-9]{4} [0-9-]{10} [0-9:]{8} ERROR inbound/anytls\\[in\\]: oops\n"));
  EXPECT_THAT(text, Not(HasSubstr("\x1b[")));  // files never get colour
  fs::remove(log);
}

// Issue 24: a destination name with CR/LF, other control bytes or bytes
// that are not UTF-8 (a SOCKS5 domain may hold any byte but NUL) cannot
// forge a line or reach the terminal: it is written escaped.
TEST(LogText, EscapesWhatCouldForgeALine) {
  using anytls::app::Colours;
  using anytls::app::log_safe;
  using anytls::app::log_safe_text;
  EXPECT_TRUE(log_safe("connection to example.com:443"));
  EXPECT_TRUE(log_safe("b\xc3\xbc" "cher.de \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80"));  // UTF-8 stays
  EXPECT_EQ(log_safe_text("a\r\nINFO forged"), "a\\r\\nINFO forged");
  EXPECT_EQ(log_safe_text(std::string("x\0y\ty\x7f", 6)), "x\\x00y\\ty\\x7f");
  EXPECT_EQ(log_safe_text("\x1b[2J\x1b]0;t\x07"), "\\x1b[2J\\x1b]0;t\\x07");
  // Not UTF-8: a lone continuation byte, an overlong '/', a surrogate, a cut sequence.
  EXPECT_EQ(log_safe_text("\x80 \xc0\xaf \xed\xa0\x80 \xe4\xb8"), "\\x80 \\xc0\\xaf \\xed\\xa0\\x80 \\xe4\\xb8");
  EXPECT_EQ(log_safe_text("\xc2\x9b" "31m"), "\\u009b31m");  // C1 CSI
  // The logger's own colour codes: kept on a terminal, left out for /logs.
  EXPECT_TRUE(log_safe("\x1b[38;5;42m7\x1b[0m", Colours::keep));
  EXPECT_FALSE(log_safe("\x1b[38;5;42m7\x1b[0m"));
  EXPECT_EQ(log_safe_text("\x1b[38;5;42m7\x1b[0m\n", Colours::strip), "7\\n");
  EXPECT_EQ(log_safe_text("\x1b[2J", Colours::keep), "\\x1b[2J");
}

TEST(Logging, ANameCannotForgeALine) {
  fs::path log = temp_log("anytls_logging_forge.log");
  anytls::config::LogOptions opts;
  opts.level = "info";
  opts.output = log.string();
  setup_logging(opts);
  auto buffer = std::make_shared<anytls::app::LogBuffer>();
  spdlog::default_logger()->sinks().push_back(buffer);
  const std::string name = "evil.lan\r\nERROR forged line\n\xff";
  spdlog::info("connection to {}:443", name);
  spdlog::default_logger()->sinks().pop_back();
  EXPECT_EQ(slurp(log), "INFO connection to evil.lan\\r\\nERROR forged line\\n\\xff:443\n");
  std::uint64_t next = 0;
  auto lines = buffer->since(0, spdlog::level::trace, next);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].text, "connection to evil.lan\\r\\nERROR forged line\\n\\xff:443");
  fs::remove(log);
}

TEST(Logging, StderrLayoutAndColour) {
  // stderr without timestamp: "INFO[0000] message" (seconds since start);
  // colour only when asked for (a TTY) and not disabled.
  anytls::config::LogOptions opts;
  opts.level = "info";
  testing::internal::CaptureStderr();
  setup_logging(opts);
  spdlog::info("plain");
  setup_logging(opts, {.force_color = true});
  spdlog::warn("coloured");
  EXPECT_TRUE(anytls::app::log_color());
  spdlog::info("{}inbound/mixed[in]: inbound connection", anytls::app::ConnLog(7, std::chrono::steady_clock::now()).prefix());
  setup_logging(opts, {.disable_color = true, .force_color = true});
  spdlog::warn("no colour");
  EXPECT_FALSE(anytls::app::log_color());
  opts.timestamp = true;
  setup_logging(opts);
  spdlog::info("stamped");
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_THAT(err, MatchesRegex("INFO\\[[0-9]{4}\\] plain\n"
                                "\x1b\\[33mWARN\x1b\\[0m\\[[0-9]{4}\\] coloured\n"
                                "\x1b\\[36mINFO\x1b\\[0m\\[[0-9]{4}\\] \\[\x1b\\[38;5;[0-9]+m7\x1b\\[0m [0-9]+ms\\] "
                                "inbound/mixed\\[in\\]: inbound connection\n"
                                "WARN\\[[0-9]{4}\\] no colour\n"
                                "[+-][0-9]{4} [0-9-]{10} [0-9:]{8} INFO stamped\n"));
}

TEST(LogIds, ElapsedAndPrefix) {
  using namespace std::chrono_literals;
  using anytls::app::format_elapsed;
  EXPECT_EQ(format_elapsed(0ms), "0ms");
  EXPECT_EQ(format_elapsed(12ms), "12ms");
  EXPECT_EQ(format_elapsed(999ms), "999ms");
  EXPECT_EQ(format_elapsed(1050ms), "1.05s");
  EXPECT_EQ(format_elapsed(59990ms), "59.99s");
  EXPECT_EQ(format_elapsed(125s), "2m5s");
  EXPECT_EQ(format_elapsed(2h), "120m0s");
  auto t0 = std::chrono::steady_clock::now();
  anytls::app::ConnLog id(3456789, t0);
  EXPECT_EQ(id.prefix(t0 + 12ms, false), "[3456789 12ms] ");
  EXPECT_EQ(id.prefix(t0 + 12ms, true),
            "[\x1b[38;5;" + std::to_string(anytls::app::id_color(3456789)) + "m3456789\x1b[0m 12ms] ");
  // Colours stay in the 6x6x6 cube (16..231) and skip the darkest cells.
  for (std::uint32_t i = 0; i < 256; ++i) {
    EXPECT_GE(anytls::app::id_color(i), 16);
    EXPECT_LE(anytls::app::id_color(i), 231);
  }
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

// A reload (SIGHUP) sets the log up again while workers log: the logger
// they reach through spdlog's default stays (it was replaced and freed
// under them; ThreadSanitizer runs this test), and so do its other sinks
// (the Clash API's log buffer, which a replaced logger had lost).
TEST(Logging, ReloadKeepsTheLoggerWorkersUse) {
  fs::path first = temp_log("anytls_logging_reload_1.log");
  fs::path second = temp_log("anytls_logging_reload_2.log");
  anytls::config::LogOptions opts;
  opts.level = "info";
  opts.output = first.string();
  setup_logging(opts);
  auto* logger = spdlog::default_logger_raw();
  auto buffer = std::make_shared<anytls::app::LogBuffer>();
  spdlog::default_logger()->sinks().push_back(buffer);
  std::atomic<bool> stop{false};
  std::thread worker([&stop] {
    while (!stop) spdlog::info("from a worker");
  });
  for (int i = 0; i < 20; ++i) {
    opts.output = (i % 2 ? first : second).string();
    opts.level = i % 3 ? "info" : "debug";
    setup_logging(opts);
  }
  stop = true;
  worker.join();
  opts.output = second.string();
  opts.level = "warn";
  setup_logging(opts);
  EXPECT_EQ(spdlog::default_logger_raw(), logger);
  spdlog::info("not at warn");
  spdlog::warn("after the reloads");
  spdlog::default_logger()->sinks().pop_back();
  std::uint64_t next = 0;
  auto lines = buffer->since(0, spdlog::level::warn, next);
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines.back().text, "after the reloads");
  const std::string text = slurp(second);
  EXPECT_THAT(text, HasSubstr("WARN after the reloads\n"));
  EXPECT_THAT(text, Not(HasSubstr("not at warn")));
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
