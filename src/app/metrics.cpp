#include "app/metrics.hpp"

#include "inbound/anytls_server.hpp"
#include "metrics/process.hpp"
#include "outbound/anytls.hpp"

namespace anytls::app {

namespace {

using metrics::Labels;
using metrics::Type;

// Names and help texts in one place (the names are fixed by issue 16 and the
// Grafana dashboard in contrib/grafana/ relies on them).
constexpr const char* kPoolSessions = "anytls_pool_sessions";
constexpr const char* kCreated = "anytls_pool_sessions_created_total";
constexpr const char* kClosed = "anytls_pool_sessions_closed_total";
constexpr const char* kDialFailures = "anytls_pool_dial_failures_total";
constexpr const char* kRetries = "anytls_pool_stream_retries_total";
constexpr const char* kCrossWorker = "anytls_pool_cross_worker_streams_total";
constexpr const char* kBeatsSent = "anytls_heartbeats_sent_total";
constexpr const char* kBeatsAnswered = "anytls_heartbeat_responses_total";
constexpr const char* kBeatsMissed = "anytls_heartbeat_misses_total";
constexpr const char* kAge = "anytls_session_age_seconds";
constexpr const char* kHandshake = "anytls_handshake_seconds";
constexpr const char* kStreams = "anytls_streams_total";
constexpr const char* kStreamErrors = "anytls_stream_errors_total";
constexpr const char* kServerSessions = "anytls_server_sessions";
constexpr const char* kAuthFailures = "anytls_server_auth_failures_total";
constexpr const char* kFallbacks = "anytls_server_fallbacks_total";
constexpr const char* kBytes = "anytls_bytes_total";
constexpr const char* kWireBytes = "anytls_wire_bytes_total";
constexpr const char* kDnsCacheEntries = "anytls_dns_cache_entries";
constexpr const char* kDnsCacheBytes = "anytls_dns_cache_bytes";

void declare_all(metrics::Exposition& e) {
  e.declare(kPoolSessions, Type::gauge, "Sessions of an anytls outbound's pool by state (idle, busy, dialing).");
  e.declare(kCreated, Type::counter, "Sessions the anytls outbound has opened (TCP + TLS + preamble done).");
  e.declare(kClosed, Type::counter, "Sessions of the anytls outbound that ended, by reason.");
  e.declare(kDialFailures, Type::counter, "Session dials (pool or stream) that failed.");
  e.declare(kRetries, Type::counter, "Streams retried on a fresh session because their pooled session was dead.");
  e.declare(kCrossWorker, Type::counter,
            "Streams that took an idle session of another worker thread (each operation hops to that worker).");
  e.declare(kBeatsSent, Type::counter, "HeartRequest frames sent.");
  e.declare(kBeatsAnswered, Type::counter, "HeartResponse frames received.");
  e.declare(kBeatsMissed, Type::counter, "Sessions declared dead because a heartbeat went unanswered.");
  e.declare(kAge, Type::histogram, "Age of anytls outbound sessions when they end.");
  e.declare(kHandshake, Type::histogram, "Time to open a session: TCP connect + TLS handshake + auth preamble.");
  e.declare(kStreams, Type::counter, "Streams opened (outbound) or accepted (inbound).");
  e.declare(kStreamErrors, Type::counter, "Streams of the anytls outbound that failed, by kind.");
  e.declare(kServerSessions, Type::gauge, "Live authenticated sessions of an anytls inbound, by user.");
  e.declare(kAuthFailures, Type::counter, "Connections to an anytls inbound that failed authentication.");
  e.declare(kFallbacks, Type::counter, "Connections relayed to the fallback server.");
  e.declare(kBytes, Type::counter,
            "AnyTLS session bytes inside TLS (frames with their headers; the client counts what it sends before "
            "padding, the server what it receives, padding included); up = client to server.");
  e.declare(kWireBytes, Type::counter,
            "TLS record bytes on the TCP connections of anytls sessions (handshakes included); up = client to "
            "server.");
  e.declare(kDnsCacheEntries, Type::gauge, "Answers in the DNS cache (bounded by dns.cache_capacity).");
  e.declare(kDnsCacheBytes, Type::gauge,
            "Bytes the DNS cache holds, as it counts them against dns.cache_max_bytes (answers plus bookkeeping).");
}

// share: only what lives on the calling worker (its live sessions' bytes),
// for a worker other than 0; worker 0 adds everything else.
void add_outbound(metrics::Exposition& e, const outbound::AnyTlsOutbound& o, bool share) {
  const auto st = share ? outbound::AnyTlsStats{} : o.stats();
  std::size_t idle = 0, busy = 0, dialing = 0;
  if (!share) {
    o.inspect_policy([&](const outbound::PoolPolicy& pol) {
      idle = pol.idle_count();
      busy = pol.busy_count();
      dialing = pol.dialing_count();
    });
  }
  const std::string& tag = o.tag();
  const Labels l{{"outbound", tag}};
  e.gauge(kPoolSessions, "", {{"outbound", tag}, {"state", "idle"}}, double(idle));
  e.gauge(kPoolSessions, "", {{"outbound", tag}, {"state", "busy"}}, double(busy));
  e.gauge(kPoolSessions, "", {{"outbound", tag}, {"state", "dialing"}}, double(dialing + st.stream_dials));
  e.counter(kCreated, "", l, double(st.sessions_created));
  for (std::size_t i = 0; i < outbound::kSessionEnds; ++i) {
    auto why = outbound::session_end_name(static_cast<outbound::SessionEnd>(i));
    e.counter(kClosed, "", {{"outbound", tag}, {"reason", std::string(why)}}, double(st.closed[i]));
  }
  e.counter(kDialFailures, "", l, double(st.session_dial_failures));
  e.counter(kRetries, "", l, double(st.retries));
  e.counter(kCrossWorker, "", l, double(st.cross_worker_streams));
  e.counter(kBeatsSent, "", l, double(st.heartbeats_sent));
  e.counter(kBeatsAnswered, "", l, double(st.heartbeat_responses));
  e.counter(kBeatsMissed, "", l, double(st.heartbeat_misses));
  e.histogram(kAge, "", l, st.session_age_seconds);
  e.histogram(kHandshake, "", l, st.handshake_seconds);
  e.counter(kStreams, "", l, double(st.streams));
  for (std::size_t i = 0; i < outbound::kStreamErrors; ++i) {
    auto kind = outbound::stream_error_name(static_cast<outbound::StreamError>(i));
    e.counter(kStreamErrors, "", {{"outbound", tag}, {"kind", std::string(kind)}}, double(st.stream_errors[i]));
  }
  auto t = share ? o.worker_traffic() : o.traffic();
  e.counter(kBytes, "", {{"direction", "up"}, {"outbound", tag}}, double(t.bytes_up));
  e.counter(kBytes, "", {{"direction", "down"}, {"outbound", tag}}, double(t.bytes_down));
  e.counter(kWireBytes, "", {{"direction", "up"}, {"outbound", tag}}, double(t.wire_up));
  e.counter(kWireBytes, "", {{"direction", "down"}, {"outbound", tag}}, double(t.wire_down));
}

void add_inbound(metrics::Exposition& e, const inbound::AnyTlsServer& s) {
  const auto& st = s.stats();
  const std::string& tag = s.tag();
  const Labels l{{"inbound", tag}};
  e.counter(kStreams, "", l, double(st.streams));
  e.counter(kAuthFailures, "", l, double(st.auth_failures));
  e.counter(kFallbacks, "", l, double(st.fallbacks));
  auto traffic = s.user_traffic();
  for (std::size_t i = 0; i < st.users.size(); ++i) {
    const auto& u = st.users[i];
    e.gauge(kServerSessions, "", {{"inbound", tag}, {"user", u.name}}, double(u.sessions));
    if (i >= traffic.size()) continue;
    const auto& t = traffic[i];
    e.counter(kBytes, "", {{"direction", "up"}, {"inbound", tag}, {"user", u.name}}, double(t.bytes_up));
    e.counter(kBytes, "", {{"direction", "down"}, {"inbound", tag}, {"user", u.name}}, double(t.bytes_down));
    e.counter(kWireBytes, "", {{"direction", "up"}, {"inbound", tag}, {"user", u.name}}, double(t.wire_up));
    e.counter(kWireBytes, "", {{"direction", "down"}, {"inbound", tag}, {"user", u.name}}, double(t.wire_down));
  }
}

}  // namespace

void collect_anytls(metrics::Exposition& e, const MetricsSources& src) {
  declare_all(e);
  for (const auto* o : src.outbounds) add_outbound(e, *o, src.worker_share);
  for (const auto* s : src.inbounds) add_inbound(e, *s);
  if (src.dns_cache) {
    e.gauge(kDnsCacheEntries, "", {}, double(src.dns_cache->entries));
    e.gauge(kDnsCacheBytes, "", {}, double(src.dns_cache->bytes));
  }
}

std::string render_metrics(const MetricsSources& src) {
  metrics::Exposition e;
  collect_anytls(e, src);
  metrics::add_process_metrics(e, metrics::read_process_stats());
  return e.text();
}

}  // namespace anytls::app
