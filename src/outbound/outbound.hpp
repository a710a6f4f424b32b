// What an inbound asks of an outbound: a byte stream or a datagram flow to a
// destination. Implemented by direct, block and anytls.
#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <optional>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/ip/address.hpp>
#include <asio/ip/tcp.hpp>

#include "net/address.hpp"
#include "net/conn.hpp"
#include "net/result.hpp"

namespace anytls::outbound {

enum class Network { tcp, udp };

// Everything known about one proxied connection; routing rules match on it.
struct Metadata {
  std::string inbound;  // inbound tag
  std::string user;     // authenticated user name, if any
  Network network = Network::tcp;
  net::Address destination;
  asio::ip::tcp::endpoint source;
  std::string inbound_type;  // "mixed", "anytls", ... (logs)

  // Routing state, filled by the dispatch's rule actions.
  std::string domain;    // sniffed server name; domain matchers prefer it to destination.host
  std::string protocol;  // sniffed: "tls", "http"
  std::vector<asio::ip::address> destination_addresses;  // a resolve action's answer
  std::size_t rule_index = 0;  // where matching goes on after a non-final action
  // The rule that routed it, as the Clash API shows it ("final": none
  // matched; route/rule_text.hpp). Filled only while a connection tracker
  // listens.
  std::string rule;
  // The local process that opened the connection (Linux /proc), looked up
  // only when a rule needs it and the source is local.
  struct Process {
    std::string name;  // file name of path
    std::string path;  // /proc/PID/exe
    std::string user;  // owner's name
    std::uint32_t uid = 0;
  };
  std::optional<Process> process;
  // Set by the dispatch (inbound/dispatch.hpp): the connection's id and
  // start, shown as "[id elapsed]" in every log line about it.
  std::uint32_t id = 0;
  std::chrono::steady_clock::time_point start{};
};

class Outbound {
 public:
  virtual ~Outbound() = default;
  virtual const std::string& tag() const = 0;
  virtual std::string_view type() const = 0;
  // Starts background work (the anytls pool pre-warms here).
  virtual void start() {}
  // Stops background work and closes idle connections. Idempotent.
  virtual void stop() {}
  // Completes when the outbound's background tasks have finished.
  virtual asio::awaitable<void> join() { co_return; }
  // Reload: this outbound gets no new connections; background work ends and
  // idle connections close, while connections in use carry on until they end
  // (the object must stay alive until then). Default: stop().
  virtual void drain() { stop(); }
  virtual asio::awaitable<net::Result<std::unique_ptr<net::Conn>>> dial(const Metadata& md) = 0;
  // A datagram flow towards md.destination (packets may also go elsewhere).
  virtual asio::awaitable<net::Result<std::unique_ptr<net::PacketConn>>> listen_packet(const Metadata& md) = 0;
  // A group (selector, urltest: outbound/group.hpp) names the member its new
  // connections go to; any other outbound ends a chain (null). The dispatch
  // (the connection tracker's chains) sees groups through this alone.
  virtual Outbound* now() const { return nullptr; }
};

// The chain of tags a connection through `out` takes, outermost last, as
// the Clash API shows it: ["server-a", "auto", "select"].
inline std::vector<std::string> chain_of(const Outbound* out) {
  std::vector<std::string> chain;
  // Groups may nest (no cycles: config/load checks); bounded anyway.
  for (int depth = 0; out != nullptr && depth < 16; ++depth) {
    chain.insert(chain.begin(), out->tag());
    out = out->now();
  }
  return chain;
}

}  // namespace anytls::outbound
