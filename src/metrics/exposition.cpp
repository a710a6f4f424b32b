#include "metrics/exposition.hpp"

#include <limits>
#include <sstream>
#include <stdexcept>

#include <prometheus/check_names.h>
#include <prometheus/text_serializer.h>

namespace anytls::metrics {

Exposition::Family& Exposition::family(std::string_view name, Type type, std::string_view help) {
  if (auto it = by_name_.find(name); it != by_name_.end()) {
    auto& f = families_[it->second];
    // Names are fixed in code: a clash is a programming error.
    if (f.type != type) throw std::logic_error("metric " + std::string(name) + " declared with two types");
    return f;
  }
  if (!prometheus::CheckMetricName(std::string(name)))
    throw std::logic_error("invalid metric name " + std::string(name));
  if (help.find_first_of("\n\\") != std::string_view::npos)
    throw std::logic_error("metric " + std::string(name) + ": help text with a newline or backslash");
  by_name_.emplace(std::string(name), families_.size());
  families_.push_back(Family{std::string(name), type, std::string(help), {}, {}});
  return families_.back();
}

Exposition::Sample& Exposition::sample(Family& f, const Labels& labels) {
  for (const auto& [k, v] : labels) {
    // le belongs to histogram buckets.
    if (k == "le" || !prometheus::CheckLabelName(k))
      throw std::logic_error("metric " + f.name + ": invalid label name " + k);
  }
  auto [it, inserted] = f.index.emplace(labels, f.samples.size());
  if (inserted) f.samples.push_back(Sample{labels, 0, {}, {}, 0, 0});
  return f.samples[it->second];
}

void Exposition::declare(std::string_view name, Type type, std::string_view help) { family(name, type, help); }

void Exposition::counter(std::string_view name, std::string_view help, const Labels& labels, double value) {
  sample(family(name, Type::counter, help), labels).value += value;
}

void Exposition::gauge(std::string_view name, std::string_view help, const Labels& labels, double value) {
  sample(family(name, Type::gauge, help), labels).value += value;
}

void Exposition::histogram(std::string_view name, std::string_view help, const Labels& labels, const Histogram& h) {
  auto& s = sample(family(name, Type::histogram, help), labels);
  if (s.bounds.empty() && s.count == 0) {
    s.bounds = h.bounds();
    s.buckets.assign(h.bounds().size(), 0);
  }
  if (s.bounds != h.bounds()) throw std::logic_error("histogram " + std::string(name) + ": bucket bounds differ");
  for (std::size_t i = 0; i < s.buckets.size(); ++i) s.buckets[i] += h.bucket_counts()[i];
  s.sum += h.sum();
  s.count += h.count();
}

void Exposition::add(const Exposition& other) {
  for (const auto& of : other.families_) {
    auto& f = family(of.name, of.type, of.help);
    for (const auto& os : of.samples) {
      auto& s = sample(f, os.labels);
      if (of.type != Type::histogram) {
        s.value += os.value;
        continue;
      }
      if (s.bounds.empty() && s.count == 0) {
        s.bounds = os.bounds;
        s.buckets.assign(os.bounds.size(), 0);
      }
      if (s.bounds != os.bounds) throw std::logic_error("histogram " + of.name + ": bucket bounds differ");
      for (std::size_t i = 0; i < s.buckets.size(); ++i) s.buckets[i] += os.buckets[i];
      s.sum += os.sum;
      s.count += os.count;
    }
  }
}

std::vector<prometheus::MetricFamily> Exposition::families() const {
  std::vector<prometheus::MetricFamily> out;
  out.reserve(families_.size());
  for (const auto& f : families_) {
    prometheus::MetricFamily mf;
    mf.name = f.name;
    mf.help = f.help;
    mf.type = f.type == Type::counter ? prometheus::MetricType::Counter
              : f.type == Type::gauge ? prometheus::MetricType::Gauge
                                      : prometheus::MetricType::Histogram;
    for (const auto& s : f.samples) {
      prometheus::ClientMetric m;
      for (const auto& [k, v] : s.labels) m.label.push_back({k, v});
      switch (f.type) {
        case Type::counter:
          m.counter.value = s.value;
          break;
        case Type::gauge:
          m.gauge.value = s.value;
          break;
        case Type::histogram: {
          std::uint64_t cumulative = 0;
          for (std::size_t i = 0; i < s.bounds.size(); ++i) {
            cumulative += s.buckets[i];
            m.histogram.bucket.push_back({cumulative, s.bounds[i]});
          }
          m.histogram.bucket.push_back({s.count, std::numeric_limits<double>::infinity()});
          m.histogram.sample_count = s.count;
          m.histogram.sample_sum = s.sum;
          break;
        }
      }
      mf.metric.push_back(std::move(m));
    }
    out.push_back(std::move(mf));
  }
  return out;
}

std::string Exposition::text() const {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families());
  return out.str();
}

}  // namespace anytls::metrics
