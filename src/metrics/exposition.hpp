// Samples collected at scrape time, rendered in the Prometheus text format by
// prometheus-cpp's TextSerializer (Debian prometheus-cpp-dev, core library
// only: its data model and serializer, not its registry, whose metrics are
// atomics, nor its HTTP exposer, which runs threads of its own).
//
// An Exposition collects samples family by family. Samples of one family
// with identical labels are ADDED together: per-worker objects that share a
// tag (one pool, one inbound) are summed at scrape time simply by adding
// each of them (or by add()ing per-worker Expositions). Families render in
// the order they were first declared, samples in the order their label sets
// first appeared. Pure: no I/O, no clock.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <prometheus/metric_family.h>

#include "metrics/histogram.hpp"

namespace anytls::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

enum class Type { counter, gauge, histogram };

class Exposition {
 public:
  // Declares a family (idempotent; the first help text stays). A family
  // declared without samples still renders its HELP and TYPE lines. Help
  // texts are constants of ours: one with a newline or a backslash is
  // refused (prometheus-cpp 1.0 writes HELP unescaped).
  void declare(std::string_view name, Type type, std::string_view help);

  // Add value to the sample with these labels (declaring the family with
  // `help` if needed). Counters and gauges alike: a gauge summed over
  // workers is the process-wide value.
  void counter(std::string_view name, std::string_view help, const Labels& labels, double value);
  void gauge(std::string_view name, std::string_view help, const Labels& labels, double value);
  void histogram(std::string_view name, std::string_view help, const Labels& labels, const Histogram& h);

  // Adds every family and sample of another exposition (same rules: equal
  // labels are summed). With worker threads, each worker collects its own
  // objects into an Exposition on its own thread; the endpoint adds them up.
  void add(const Exposition& other);

  // prometheus-cpp's data model of everything collected (cumulative
  // histogram buckets, +Inf included).
  std::vector<prometheus::MetricFamily> families() const;
  // The text exposition format (version 0.0.4).
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
    std::map<Labels, std::size_t> index;  // labels -> sample
  };
  Family& family(std::string_view name, Type type, std::string_view help);
  Sample& sample(Family& f, const Labels& labels);

  std::vector<Family> families_;
  std::map<std::string, std::size_t, std::less<>> by_name_;
};

// The Content-Type of text(): what a Prometheus server asks for.
inline constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace anytls::metrics
