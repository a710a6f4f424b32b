#include "metrics/exposition.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

namespace anytls::metrics {

namespace {

// {a="x",b="y"}; empty for no labels. extra: one more label rendered last
// (the histogram's le).
std::string render_labels(const Labels& labels, std::string_view extra_name = {}, std::string_view extra_value = {}) {
  if (labels.empty() && extra_name.empty()) return {};
  std::string out = "{";
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) out += ',';
    first = false;
    out += k;
    out += "=\"";
    out += escape_label_value(v);
    out += '"';
  }
  if (!extra_name.empty()) {
    if (!first) out += ',';
    out += extra_name;
    out += "=\"";
    out += extra_value;
    out += '"';
  }
  out += '}';
  return out;
}

std::string_view type_name(Type t) {
  switch (t) {
    case Type::counter: return "counter";
    case Type::gauge: return "gauge";
    case Type::histogram: return "histogram";
  }
  return "untyped";
}

}  // namespace

std::string escape_label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string escape_help(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  // Counts are integers: print them exactly (up to 2^53), never in
  // exponent form.
  if (v == std::floor(v) && std::fabs(v) < 9007199254740992.0) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.0f", v);
    return buf;
  }
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  // Shortest text that reads back as the same double.
  for (int prec = 1; prec < 17; ++prec) {
    char shorter[40];
    std::snprintf(shorter, sizeof shorter, "%.*g", prec, v);
    if (std::strtod(shorter, nullptr) == v) return shorter;
  }
  return buf;
}

bool valid_metric_name(std::string_view name) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

bool valid_label_name(std::string_view name) {
  if (name.empty() || name == "le") return false;  // le is the histogram's
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

Exposition::Family& Exposition::family(std::string_view name, Type type, std::string_view help) {
  if (auto it = by_name_.find(name); it != by_name_.end()) {
    auto& f = families_[it->second];
    // Names are fixed in code: a clash is a programming error.
    if (f.type != type) throw std::logic_error("metric " + std::string(name) + " declared with two types");
    return f;
  }
  if (!valid_metric_name(name)) throw std::logic_error("invalid metric name " + std::string(name));
  by_name_.emplace(std::string(name), families_.size());
  families_.push_back(Family{std::string(name), type, std::string(help), {}, {}});
  return families_.back();
}

Exposition::Sample& Exposition::sample(Family& f, const Labels& labels) {
  for (const auto& [k, v] : labels)
    if (!valid_label_name(k)) throw std::logic_error("metric " + f.name + ": invalid label name " + k);
  auto key = render_labels(labels);
  auto [it, inserted] = f.index.emplace(key, f.samples.size());
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

std::string Exposition::text() const {
  std::string out;
  out.reserve(families_.size() * 256);
  for (const auto& f : families_) {
    out += "# HELP ";
    out += f.name;
    out += ' ';
    out += escape_help(f.help);
    out += "\n# TYPE ";
    out += f.name;
    out += ' ';
    out += type_name(f.type);
    out += '\n';
    for (const auto& s : f.samples) {
      if (f.type != Type::histogram) {
        out += f.name;
        out += render_labels(s.labels);
        out += ' ';
        out += format_value(s.value);
        out += '\n';
        continue;
      }
      std::uint64_t cumulative = 0;
      for (std::size_t i = 0; i < s.bounds.size(); ++i) {
        cumulative += s.buckets[i];
        out += f.name;
        out += "_bucket";
        out += render_labels(s.labels, "le", format_value(s.bounds[i]));
        out += ' ';
        out += std::to_string(cumulative);
        out += '\n';
      }
      out += f.name;
      out += "_bucket";
      out += render_labels(s.labels, "le", "+Inf");
      out += ' ';
      out += std::to_string(s.count);
      out += '\n';
      out += f.name;
      out += "_sum";
      out += render_labels(s.labels);
      out += ' ';
      out += format_value(s.sum);
      out += '\n';
      out += f.name;
      out += "_count";
      out += render_labels(s.labels);
      out += ' ';
      out += std::to_string(s.count);
      out += '\n';
    }
  }
  return out;
}

}  // namespace anytls::metrics
