// Every default of the configuration, in one place. The decoder fills these
// in, so the option structs other layers receive always hold final values
// (a pool interval of "0" or absent arrives here as 30s, never as 0).
#pragma once
#include <chrono>
#include <cstdint>
#include <string_view>

#include "net/duration.hpp"

namespace anytls::config::defaults {

using namespace std::chrono_literals;
using net::Duration;

// log
inline constexpr std::string_view kLogLevel = "info";

// Listen fields
// tun: sing-box 1.11+'s MTU, and its iproute2 table and rule indexes and
// auto_redirect marks.
inline constexpr std::uint32_t kTunMtu = 9000;
inline constexpr std::uint32_t kTunTableIndex = 2022;
inline constexpr std::uint32_t kTunRuleIndex = 9000;
inline constexpr std::uint32_t kTunRedirectInputMark = 0x2023;
inline constexpr std::uint32_t kTunRedirectOutputMark = 0x2024;
inline constexpr Duration kUdpTimeout = 5min;

// Listen and Dial fields: TCP keep-alive (sing-box's values); 0 in the
// config means these.
inline constexpr Duration kTcpKeepAlive = 5min;          // idle before first probe
inline constexpr Duration kTcpKeepAliveInterval = 75s;   // between probes

// Dial fields
inline constexpr Duration kConnectTimeout = 5s;
// ntp.interval (sing-box's default).
inline constexpr Duration kNtpInterval = std::chrono::minutes(30);
inline constexpr Duration kFallbackDelay = 300ms;  // Happy Eyeballs

// anytls outbound: the session pool (session-pool.md, defaults table).
inline constexpr Duration kIdleSessionCheckInterval = 30s;
inline constexpr Duration kIdleSessionTimeout = 30s;
inline constexpr int kMinIdleSession = 0;
inline constexpr int kMinIdleSessionForAge = 0;
inline constexpr int kEnsureIdleSession = 0;           // 0 = off
inline constexpr Duration kHeartbeat = 0s;             // 0 = off
inline constexpr Duration kMaxConnectionLifetime = 0s; // 0 = off
inline constexpr Duration kConnectionLifetimeJitter = 0s;

// anytls inbound (the server): our own limits, beyond sing-box.
inline constexpr Duration kHandshakeTimeout = 10s;  // TLS handshake + auth preamble
inline constexpr std::uint32_t kMaxStreamsPerSession = 1024;
// A client session silent this long (no frame at all, heartbeats included)
// is closed by the server.
inline constexpr Duration kSessionIdleTimeout = 5min;
// A write to a client that makes no progress (64 KiB) this long ends the
// session: the client stopped reading, and its buffers would stay forever.
inline constexpr Duration kWriteStallTimeout = 60s;
// Concurrent TLS handshakes + auth preambles; 0 = an eighth of
// RLIMIT_NOFILE, at least 64. Connections over it wait (no TLS state yet).
inline constexpr std::uint32_t kMaxHandshakes = 0;
// All stream receive buffers of the inbound's sessions together.
inline constexpr std::uint64_t kMaxBufferedBytes = 256ull << 20;
// Per user of the anytls inbound; 0 in the config means "from the file
// descriptor limit": a quarter of RLIMIT_NOFILE for streams, an eighth for
// sessions (each stream holds an outbound socket, each session its TLS
// connection), so one user can never take the descriptors the others and
// new handshakes need.
inline constexpr std::uint32_t kMaxSessionsPerUser = 0;
inline constexpr std::uint32_t kMaxStreamsPerUser = 0;
// ... but never more than these when derived (an unlimited or huge
// RLIMIT_NOFILE), whatever the descriptor limit.
inline constexpr std::uint32_t kMaxSessionsPerUserCap = 2048;
inline constexpr std::uint32_t kMaxStreamsPerUserCap = 16384;
inline constexpr std::uint32_t kMaxHandshakesCap = 4096;

// dns.cache_max_bytes (our addition): the DNS cache's bound in bytes (wire
// bytes of the answers plus the cache's own bookkeeping), beside
// cache_capacity's bound in entries. 32 MiB holds ~80,000 typical answers
// (~400 bytes each as counted) and ~400 of the largest a server can send
// (one 64 KiB message); the smallest accepted, 1 MiB, still caches every
// legal answer (one answer may take at most an eighth of the bound).
inline constexpr std::uint64_t kDnsCacheMaxBytes = 32ull << 20;
inline constexpr std::uint64_t kDnsCacheMinBytes = 1ull << 20;

// route: sniff action timeout and remote rule-set refresh (sing-box's).
inline constexpr Duration kSniffTimeout = 300ms;
inline constexpr Duration kRuleSetUpdateInterval = 24h;

// experimental.metrics: "listen": "127.0.0.1:9100", "path": "/metrics".
inline constexpr std::string_view kMetricsListenAddress = "127.0.0.1";
inline constexpr std::uint16_t kMetricsListenPort = 9100;
inline constexpr std::string_view kMetricsPath = "/metrics";

// urltest: sing-box's defaults.
inline constexpr std::string_view kUrlTestUrl = "https://www.gstatic.com/generate_204";
inline constexpr Duration kUrlTestInterval = 3min;
inline constexpr std::uint16_t kUrlTestToleranceMs = 50;
inline constexpr Duration kUrlTestIdleTimeout = 30min;

// experimental.cache_file / clash_api: sing-box's defaults.
inline constexpr std::string_view kCacheFilePath = "cache.db";
inline constexpr std::string_view kClashApiListenAddress = "127.0.0.1";
inline constexpr std::uint16_t kClashApiListenPort = 9090;
inline constexpr std::string_view kClashDefaultMode = "Rule";

// anytls:// URI
inline constexpr std::uint16_t kAnyTlsUriPort = 443;
inline constexpr std::string_view kAnyTlsUriTag = "anytls";

}  // namespace anytls::config::defaults
