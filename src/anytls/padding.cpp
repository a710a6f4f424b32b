#include "anytls/padding.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <limits>
#include <random>

#include "anytls/frame.hpp"
#include "anytls/settings.hpp"

namespace anytls::proto {

const std::string_view kDefaultPaddingScheme =
    "stop=8\n"
    "0=30-30\n"
    "1=100-400\n"
    "2=400-500,c,500-1000,c,500-1000,c,500-1000,c,500-1000\n"
    "3=9-9,500-1000\n"
    "4=500-1000\n"
    "5=500-1000\n"
    "6=500-1000\n"
    "7=500-1000";

namespace {

// Go's strconv.ParseInt(s, 10, 64): optional sign, at least one digit, only
// digits, in int64 range.
std::optional<std::int64_t> parse_int(std::string_view s) {
  bool neg = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s.empty()) return std::nullopt;
  std::uint64_t v = 0;
  const std::uint64_t limit = neg ? std::uint64_t{1} << 63 : (std::uint64_t{1} << 63) - 1;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    const auto d = static_cast<std::uint64_t>(c - '0');
    if (v > (limit - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  if (!neg) return static_cast<std::int64_t>(v);
  return v == (std::uint64_t{1} << 63) ? std::numeric_limits<std::int64_t>::min() : -static_cast<std::int64_t>(v);
}

// A packet number as the reference spells its keys (strconv.Itoa).
std::optional<std::uint32_t> parse_packet_key(std::string_view s) {
  if (s.empty() || s.size() > 10 || (s.size() > 1 && s[0] == '0')) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (v > std::numeric_limits<std::uint32_t>::max()) return std::nullopt;
  return static_cast<std::uint32_t>(v);
}

std::optional<PaddingItem> parse_item(std::string_view s) {
  if (s == "c") return PaddingItem{true, 0, 0};
  const std::size_t dash = s.find('-');
  if (dash == std::string_view::npos || s.find('-', dash + 1) != std::string_view::npos) return std::nullopt;
  auto a = parse_int(s.substr(0, dash));
  auto b = parse_int(s.substr(dash + 1));
  if (!a || !b) return std::nullopt;
  const std::int64_t lo = std::min(*a, *b), hi = std::max(*a, *b);
  if (lo <= 0 || hi > std::int64_t{kMaxPaddingSize}) return std::nullopt;
  return PaddingItem{false, static_cast<std::uint32_t>(lo), static_cast<std::uint32_t>(hi)};
}

// Appends Waste frames (sid 0, zero data) of exactly `total` bytes, headers
// included; total >= kFrameHeaderSize.
void append_waste(std::vector<std::uint8_t>& out, std::size_t total) {
  std::uint8_t hdr[kFrameHeaderSize];
  auto frame = [&](std::size_t data) {
    encode_header(hdr, FrameHeader{Command::waste, 0, static_cast<std::uint16_t>(data)});
    out.insert(out.end(), hdr, hdr + kFrameHeaderSize);
    out.resize(out.size() + data, 0);
  };
  out.reserve(out.size() + total);
  while (total > kFrameHeaderSize + kMaxFrameData) {
    // leave at least one header's worth for the next frame
    const std::size_t d = std::min(kMaxFrameData, total - 2 * kFrameHeaderSize);
    frame(d);
    total -= kFrameHeaderSize + d;
  }
  frame(total - kFrameHeaderSize);
}

std::uint32_t fallback_random(std::uint32_t lo, std::uint32_t hi) {
  thread_local std::mt19937 gen{std::random_device{}()};
  return std::uniform_int_distribution<std::uint32_t>(lo, hi - 1)(gen);
}

}  // namespace

std::string md5_hex(std::string_view bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), digest, &n, EVP_md5(), nullptr) != 1) return {};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * n);
  for (unsigned int i = 0; i < n; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 0xf];
  }
  return out;
}

std::optional<PaddingScheme> PaddingScheme::parse(std::string_view text) {
  const auto kv = parse_settings(text);
  const auto stop_it = kv.find("stop");
  if (stop_it == kv.end()) return std::nullopt;
  const auto stop = parse_int(stop_it->second);
  if (!stop || *stop < 0 || *stop > std::int64_t{std::numeric_limits<std::uint32_t>::max()}) return std::nullopt;

  PaddingScheme s;
  s.text = std::string(text);
  s.md5_hex = proto::md5_hex(text);
  s.stop = static_cast<std::uint32_t>(*stop);
  for (const auto& [key, value] : kv) {
    const auto pkt = parse_packet_key(key);
    if (!pkt) continue;
    std::vector<PaddingItem> items;
    std::string_view rest = value;
    while (true) {
      const std::size_t comma = rest.find(',');
      if (auto item = parse_item(rest.substr(0, comma))) items.push_back(*item);
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
    s.packets.emplace(*pkt, std::move(items));
  }
  return s;
}

const PaddingScheme& PaddingScheme::default_scheme() {
  static const PaddingScheme s = *parse(kDefaultPaddingScheme);
  return s;
}

std::uint16_t PaddingScheme::preamble_padding_length() const {
  const auto it = packets.find(0);
  if (it == packets.end() || it->second.empty()) return 0;
  const PaddingItem& first = it->second.front();
  if (first.check) return 0;
  return static_cast<std::uint16_t>(std::min<std::uint32_t>(first.min, 65535));
}

std::vector<std::vector<std::uint8_t>> shape_packet(const PaddingScheme& scheme, std::uint32_t packet,
                                                    std::span<const std::uint8_t> pending,
                                                    const RandomInt& rand) {
  std::vector<std::vector<std::uint8_t>> records;
  if (packet < scheme.stop) {
    if (const auto it = scheme.packets.find(packet); it != scheme.packets.end()) {
      for (const PaddingItem& item : it->second) {
        if (item.check) {
          if (pending.empty()) break;
          continue;
        }
        std::uint32_t l = item.min;
        if (item.min < item.max) {
          const std::uint32_t r = rand ? rand(item.min, item.max) : fallback_random(item.min, item.max);
          l = std::clamp(r, item.min, item.max - 1);
        }
        if (pending.size() > l) {
          records.emplace_back(pending.begin(), pending.begin() + l);
          pending = pending.subspan(l);
        } else if (!pending.empty()) {
          const auto pad = static_cast<std::int64_t>(l) - static_cast<std::int64_t>(pending.size()) -
                           static_cast<std::int64_t>(kFrameHeaderSize);
          std::vector<std::uint8_t> rec(pending.begin(), pending.end());
          if (pad > 0) append_waste(rec, static_cast<std::size_t>(pad) + kFrameHeaderSize);
          records.push_back(std::move(rec));
          pending = {};
        } else {
          std::vector<std::uint8_t> rec;
          append_waste(rec, std::size_t{l} + kFrameHeaderSize);
          records.push_back(std::move(rec));
        }
      }
    }
  }
  if (!pending.empty()) records.emplace_back(pending.begin(), pending.end());
  return records;
}

}  // namespace anytls::proto
