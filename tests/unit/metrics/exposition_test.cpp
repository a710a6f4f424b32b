// Samples to the Prometheus text format (via prometheus-cpp): escaping,
// number formatting, HELP/TYPE lines, histograms, summing per-worker samples,
// /proc parsing.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "metrics/exposition.hpp"
#include "metrics/histogram.hpp"
#include "metrics/process.hpp"

namespace anytls::metrics {
namespace {

using ::testing::HasSubstr;

TEST(Exposition, EscapesLabelValues) {
  // User names and tags end up in label values: \ " and newline escaped.
  Exposition e;
  e.gauge("g", "G.", {{"user", "a\"b\\c\nd"}, {"tag", "plain ünïcode"}}, 1);
  EXPECT_THAT(e.text(), HasSubstr("g{user=\"a\\\"b\\\\c\\nd\",tag=\"plain ünïcode\"} 1\n"));
}

TEST(Exposition, FormatsValues) {
  Exposition e;
  e.gauge("v", "V.", {{"k", "int"}}, 18446744073709.0);
  e.gauge("v", "V.", {{"k", "frac"}}, 0.25);
  e.gauge("v", "V.", {{"k", "inf"}}, std::numeric_limits<double>::infinity());
  auto t = e.text();
  EXPECT_THAT(t, HasSubstr("v{k=\"int\"} 18446744073709\n"));
  EXPECT_THAT(t, HasSubstr("v{k=\"frac\"} 0.25\n"));
  EXPECT_THAT(t, HasSubstr("v{k=\"inf\"} +Inf\n"));
}

TEST(Exposition, CountersAndGaugesWithHelpAndType) {
  Exposition e;
  e.counter("x_total", "Things that happened.", {{"outbound", "p\"1"}}, 3);
  e.gauge("y", "A level.", {}, 1.5);
  EXPECT_EQ(e.text(),
            "# HELP x_total Things that happened.\n"
            "# TYPE x_total counter\n"
            "x_total{outbound=\"p\\\"1\"} 3\n"
            "# HELP y A level.\n"
            "# TYPE y gauge\n"
            "y 1.5\n");
}

TEST(Exposition, SameLabelsAreSummedAcrossWorkers) {
  Exposition e;
  e.declare("s", Type::gauge, "Sessions.");
  e.gauge("s", "", {{"outbound", "a"}, {"state", "idle"}}, 2);
  e.gauge("s", "", {{"outbound", "b"}, {"state", "idle"}}, 1);
  e.gauge("s", "", {{"outbound", "a"}, {"state", "idle"}}, 3);  // a second worker's pool "a"
  EXPECT_EQ(e.text(),
            "# HELP s Sessions.\n# TYPE s gauge\n"
            "s{outbound=\"a\",state=\"idle\"} 5\n"
            "s{outbound=\"b\",state=\"idle\"} 1\n");
}

TEST(Exposition, WorkerExpositionsAddUp) {
  // Two workers collect their own objects on their own threads; the
  // endpoint adds the results.
  Histogram h1{1}, h2{1};
  h1.observe(0.5);
  h2.observe(2);
  Exposition w1, w2, all;
  w1.declare("s", Type::gauge, "Sessions.");
  w1.gauge("s", "", {{"outbound", "a"}}, 2);
  w1.histogram("h", "H.", {{"outbound", "a"}}, h1);
  w2.gauge("s", "Sessions.", {{"outbound", "a"}}, 3);
  w2.gauge("s", "Sessions.", {{"outbound", "b"}}, 1);
  w2.histogram("h", "H.", {{"outbound", "a"}}, h2);
  all.add(w1);
  all.add(w2);
  auto t = all.text();
  EXPECT_THAT(t, HasSubstr("s{outbound=\"a\"} 5\n"));
  EXPECT_THAT(t, HasSubstr("s{outbound=\"b\"} 1\n"));
  EXPECT_THAT(t, HasSubstr("h_count{outbound=\"a\"} 2\n"));
  EXPECT_THAT(t, HasSubstr("h_bucket{outbound=\"a\",le=\"1\"} 1\n"));
  EXPECT_THAT(t, HasSubstr("h_bucket{outbound=\"a\",le=\"+Inf\"} 2\n"));
}

TEST(Exposition, DeclaredFamilyWithoutSamples) {
  Exposition e;
  e.declare("z_total", Type::counter, "Nothing yet.");
  EXPECT_EQ(e.text(), "# HELP z_total Nothing yet.\n# TYPE z_total counter\n");
}

TEST(Exposition, HistogramBucketsAreCumulativeWithInf) {
  Histogram h{0.1, 1, 10};
  h.observe(0.05);
  h.observe(0.1);  // le is inclusive
  h.observe(0.5);
  h.observe(20);
  Exposition e;
  e.histogram("d_seconds", "Durations.", {{"outbound", "p"}}, h);
  EXPECT_EQ(e.text(),
            "# HELP d_seconds Durations.\n"
            "# TYPE d_seconds histogram\n"
            "d_seconds_count{outbound=\"p\"} 4\n"
            "d_seconds_sum{outbound=\"p\"} 20.65\n"
            "d_seconds_bucket{outbound=\"p\",le=\"0.1\"} 2\n"
            "d_seconds_bucket{outbound=\"p\",le=\"1\"} 3\n"
            "d_seconds_bucket{outbound=\"p\",le=\"10\"} 3\n"
            "d_seconds_bucket{outbound=\"p\",le=\"+Inf\"} 4\n");
}

TEST(Exposition, HistogramsOfTwoWorkersAdd) {
  Histogram a{1, 2}, b{1, 2};
  a.observe(0.5);
  b.observe(1.5);
  b.observe(3);
  Exposition e;
  e.histogram("h", "H.", {}, a);
  e.histogram("h", "H.", {}, b);
  auto t = e.text();
  EXPECT_THAT(t, HasSubstr("h_bucket{le=\"1\"} 1\n"));
  EXPECT_THAT(t, HasSubstr("h_bucket{le=\"2\"} 2\n"));
  EXPECT_THAT(t, HasSubstr("h_bucket{le=\"+Inf\"} 3\n"));
  EXPECT_THAT(t, HasSubstr("h_sum 5\n"));
  EXPECT_THAT(t, HasSubstr("h_count 3\n"));
  Histogram other{5};
  EXPECT_FALSE(a.add(other));
  EXPECT_TRUE(a.add(b));
  EXPECT_EQ(a.count(), 3u);
}

TEST(Exposition, ProgrammingErrorsThrow) {
  Exposition e;
  e.counter("c_total", "C.", {}, 1);
  EXPECT_THROW(e.gauge("c_total", "C.", {}, 1), std::logic_error);
  EXPECT_THROW(e.counter("bad-name", "x", {}, 1), std::logic_error);
  EXPECT_THROW(e.counter("ok_total", "x", {{"le", "1"}}, 1), std::logic_error);
  EXPECT_THROW(e.counter("ok_total", "x", {{"a-b", "1"}}, 1), std::logic_error);
  EXPECT_THROW(e.declare("h_total", Type::counter, "two\nlines"), std::logic_error);
}

TEST(Process, ParsesProcStatWithAwkwardCommandName) {
  // comm "(a) b (c" with spaces and parentheses; utime 1234, stime 56, starttime 999.
  std::string stat =
      "4242 ((a) b (c) S 1 4242 4242 0 -1 4194560 100 0 0 0 1234 56 0 0 20 0 3 0 999 1000000 500 18446744073709551615";
  auto f = parse_proc_stat(stat);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->utime, 1234u);
  EXPECT_EQ(f->stime, 56u);
  EXPECT_EQ(f->starttime, 999u);
  EXPECT_FALSE(parse_proc_stat("4242 (x) S 1 2"));
  EXPECT_FALSE(parse_proc_stat("no parenthesis"));
}

TEST(Process, ReadsThisProcess) {
  auto p = read_process_stats();
  ASSERT_TRUE(p.resident_memory_bytes);
  EXPECT_GT(*p.resident_memory_bytes, 1024.0 * 1024);  // a gtest binary is over 1 MiB resident
  ASSERT_TRUE(p.open_fds);
  EXPECT_GE(*p.open_fds, 3.0);  // stdin, stdout, stderr
  ASSERT_TRUE(p.cpu_seconds);
  EXPECT_GE(*p.cpu_seconds, 0.0);
  Exposition e;
  add_process_metrics(e, p);
  auto t = e.text();
  EXPECT_THAT(t, HasSubstr("# TYPE process_resident_memory_bytes gauge\n"));
  EXPECT_THAT(t, HasSubstr("# TYPE process_open_fds gauge\n"));
  EXPECT_THAT(t, HasSubstr("# TYPE process_cpu_seconds_total counter\n"));
}

}  // namespace
}  // namespace anytls::metrics
