// The Prometheus text exposition format (version 0.0.4), written by hand:
// Debian bookworm has no prometheus-cpp package, and its registry would
// bring atomics and its own HTTP thread we do not want.
//
// A Exposition collects samples family by family and renders them. Samples
// of one family with identical labels are ADDED together: per-worker
// objects that share a tag (one pool, one inbound) are summed at scrape
// time simply by adding each of them. Families render in the order they
// were first declared; samples in the order their label sets first
// appeared. Pure: no I/O, no clock.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "metrics/histogram.hpp"

namespace anytls::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

enum class Type { counter, gauge, histogram };

class Exposition {
 public:
  // Declares a family (idempotent; the first help text stays). A family
  // declared without samples still renders its HELP and TYPE lines.
  void declare(std::string_view name, Type type, std::string_view help);

  // Add value to the sample with these labels (declaring the family with
  // `help` if needed). Counters and gauges alike: a gauge summed over
  // workers is the process-wide value.
  void counter(std::string_view name, std::string_view help, const Labels& labels, double value);
  void gauge(std::string_view name, std::string_view help, const Labels& labels, double value);
  void histogram(std::string_view name, std::string_view help, const Labels& labels, const Histogram& h);

  std::string text() const;

 private:
  struct Sample {
    Labels labels;
    double value = 0;
    std::vector<double> bounds;           // histograms
    std::vector<std::uint64_t> buckets;   // non-cumulative
    double sum = 0;
    std::uint64_t count = 0;
  };
  struct Family {
    std::string name;
    Type type;
    std::string help;
    std::vector<Sample> samples;
    std::map<std::string, std::size_t> index;  // rendered labels -> sample
  };
  Family& family(std::string_view name, Type type, std::string_view help);
  Sample& sample(Family& f, const Labels& labels);

  std::vector<Family> families_;
  std::map<std::string, std::size_t, std::less<>> by_name_;
};

// Exposition helpers, exposed for tests.
// A label value with \ " and newline escaped.
std::string escape_label_value(std::string_view v);
// HELP text with \ and newline escaped.
std::string escape_help(std::string_view v);
// A sample value: integers exactly, +Inf/-Inf/NaN spelled as Prometheus does.
std::string format_value(double v);
// [a-zA-Z_:][a-zA-Z0-9_:]* (metric) / [a-zA-Z_][a-zA-Z0-9_]* (label).
bool valid_metric_name(std::string_view name);
bool valid_label_name(std::string_view name);

// The Content-Type of text(): what a Prometheus server asks for.
inline constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace anytls::metrics
