// A Prometheus-style histogram as a plain value: fixed upper bounds, one
// count per bucket, sum and count. Observing is a few integer and float
// operations with no atomics: each histogram belongs to one object on one
// thread (a pool, a server) and is read at scrape time on that thread.
// Copies of the same shape can be added together (per-worker histograms
// summed at scrape time).
#pragma once
#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <vector>

namespace anytls::metrics {

class Histogram {
 public:
  // bounds: the finite upper bounds ("le"), ascending; +Inf is implicit.
  explicit Histogram(std::initializer_list<double> bounds) : bounds_(bounds), counts_(bounds_.size(), 0) {}
  explicit Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size(), 0) {}

  void observe(double v) {
    // Non-cumulative per bucket; the exposition makes them cumulative.
    auto it = std::lower_bound(bounds_.begin(), bounds_.end(), v);
    if (it != bounds_.end()) ++counts_[static_cast<std::size_t>(it - bounds_.begin())];
    sum_ += v;
    ++count_;
  }

  // Adds another histogram of the same bounds (returns false, adding
  // nothing, when the bounds differ).
  bool add(const Histogram& o) {
    if (o.bounds_ != bounds_) return false;
    for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += o.counts_[i];
    sum_ += o.sum_;
    count_ += o.count_;
    return true;
  }

  const std::vector<double>& bounds() const { return bounds_; }
  // Observations with value <= bounds()[i] and > bounds()[i-1].
  const std::vector<std::uint64_t>& bucket_counts() const { return counts_; }
  double sum() const { return sum_; }
  std::uint64_t count() const { return count_; }

 private:
  std::vector<double> bounds_;
  std::vector<std::uint64_t> counts_;
  double sum_ = 0;
  std::uint64_t count_ = 0;
};

// Bucket bounds used by the anytls metrics.
// Handshakes: TCP + TLS + preamble, 1 ms .. 10 s.
inline std::vector<double> handshake_buckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}
// Session ages at close: 1 s .. 1 day.
inline std::vector<double> session_age_buckets() {
  return {1, 5, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 86400};
}

}  // namespace anytls::metrics
