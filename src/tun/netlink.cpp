#include "tun/netlink.hpp"

#include <cerrno>
#include <cstring>
#include <ctime>

#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>

namespace anytls::tun {

namespace {

std::error_code last_error() { return {errno, std::system_category()}; }

net::Error error_of(std::error_code ec, const char* what) {
  return {ec, std::string(what) + ": " + ec.message()};
}

// A message buffer: one request and the replies of one recv.
struct Buffer {
  alignas(nlmsghdr) char data[32768];  // MNL_SOCKET_DUMP_SIZE: a dump batch fits
};

void put_address(nlmsghdr* nlh, std::uint16_t type, const asio::ip::address& a) {
  if (a.is_v4()) {
    auto b = a.to_v4().to_bytes();
    mnl_attr_put(nlh, type, b.size(), b.data());
  } else {
    auto b = a.to_v6().to_bytes();
    mnl_attr_put(nlh, type, b.size(), b.data());
  }
}

std::optional<asio::ip::address> address_of(const nlattr* attr, int family) {
  auto len = mnl_attr_get_payload_len(attr);
  const auto* p = static_cast<const unsigned char*>(mnl_attr_get_payload(attr));
  if (family == AF_INET && len == 4) {
    asio::ip::address_v4::bytes_type b;
    std::memcpy(b.data(), p, 4);
    return asio::ip::address_v4(b);
  }
  if (family == AF_INET6 && len == 16) {
    asio::ip::address_v6::bytes_type b;
    std::memcpy(b.data(), p, 16);
    return asio::ip::address_v6(b);
  }
  return std::nullopt;
}

asio::ip::address unspecified(int family) {
  if (family == AF_INET6) return asio::ip::address_v6::any();
  return asio::ip::address_v4::any();
}

// Table ids above 255 only fit the attribute; the header says RT_TABLE_UNSPEC.
std::uint8_t header_table(std::uint32_t table) {
  return static_cast<std::uint8_t>(table < 256 ? table : RT_TABLE_UNSPEC);
}

nlmsghdr* route_message(Buffer& buf, const RouteSpec& r, std::uint16_t type, std::uint16_t flags) {
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data);
  nlh->nlmsg_type = type;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
  auto* rtm = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(rtmsg)));
  rtm->rtm_family = static_cast<unsigned char>(r.family);
  rtm->rtm_dst_len = r.dst.length;
  rtm->rtm_table = header_table(r.table);
  rtm->rtm_protocol = RTPROT_BOOT;
  rtm->rtm_type = r.type;
  rtm->rtm_scope = (r.type == RTN_UNICAST && r.ifindex != 0) ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE;
  mnl_attr_put_u32(nlh, RTA_TABLE, r.table);
  if (r.dst.length > 0) put_address(nlh, RTA_DST, r.dst.address);
  if (r.ifindex != 0) mnl_attr_put_u32(nlh, RTA_OIF, static_cast<std::uint32_t>(r.ifindex));
  if (r.priority != 0) mnl_attr_put_u32(nlh, RTA_PRIORITY, r.priority);
  return nlh;
}

nlmsghdr* rule_message(Buffer& buf, const RuleSpec& r, std::uint16_t type, std::uint16_t flags) {
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data);
  nlh->nlmsg_type = type;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
  auto* frh = static_cast<fib_rule_hdr*>(mnl_nlmsg_put_extra_header(nlh, sizeof(fib_rule_hdr)));
  frh->family = static_cast<std::uint8_t>(r.family);
  frh->action = r.action;
  if (r.invert) frh->flags |= FIB_RULE_INVERT;
  mnl_attr_put_u32(nlh, FRA_PRIORITY, r.priority);
  if (r.action == FR_ACT_TO_TBL && r.table != 0) {
    frh->table = header_table(r.table);
    mnl_attr_put_u32(nlh, FRA_TABLE, r.table);
  }
  if (r.action == FR_ACT_GOTO) mnl_attr_put_u32(nlh, FRA_GOTO, r.goto_priority);
  if (!r.iif.empty()) mnl_attr_put_strz(nlh, FRA_IIFNAME, r.iif.c_str());
  if (!r.oif.empty()) mnl_attr_put_strz(nlh, FRA_OIFNAME, r.oif.c_str());
  if (r.uid_range) {
    fib_rule_uid_range u{r.uid_range->start, r.uid_range->end};
    mnl_attr_put(nlh, FRA_UID_RANGE, sizeof(u), &u);
  }
  if (r.fwmark) mnl_attr_put_u32(nlh, FRA_FWMARK, *r.fwmark);
  if (r.fwmask) mnl_attr_put_u32(nlh, FRA_FWMASK, *r.fwmask);
  if (r.suppress_prefixlength) mnl_attr_put_u32(nlh, FRA_SUPPRESS_PREFIXLEN, *r.suppress_prefixlength);
  if (r.dst) {
    frh->dst_len = r.dst->length;
    put_address(nlh, FRA_DST, r.dst->address);
  }
  if (r.src) {
    frh->src_len = r.src->length;
    put_address(nlh, FRA_SRC, r.src->address);
  }
  if (r.dport_range) {
    fib_rule_port_range p{r.dport_range->first, r.dport_range->second};
    mnl_attr_put(nlh, FRA_DPORT_RANGE, sizeof(p), &p);
  }
  return nlh;
}

// Attributes by type, those above `max` (newer kernels) skipped.
struct AttrTable {
  const nlattr** tb;
  int max;
};

int collect_attr(const nlattr* attr, void* data) {
  auto* t = static_cast<AttrTable*>(data);
  if (mnl_attr_type_valid(attr, static_cast<std::uint16_t>(t->max)) >= 0) t->tb[mnl_attr_get_type(attr)] = attr;
  return MNL_CB_OK;
}

struct RouteDump {
  std::uint32_t table = 0;
  std::vector<RouteSpec> out;
};

int on_route(const nlmsghdr* nlh, void* data) {
  auto* dump = static_cast<RouteDump*>(data);
  const auto* rtm = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(nlh));
  const nlattr* tb[RTA_MAX + 1] = {};
  AttrTable table{tb, RTA_MAX};
  mnl_attr_parse(nlh, sizeof(*rtm), collect_attr, &table);
  RouteSpec r;
  r.family = rtm->rtm_family;
  r.table = tb[RTA_TABLE] ? mnl_attr_get_u32(tb[RTA_TABLE]) : rtm->rtm_table;
  if (dump->table != 0 && r.table != dump->table) return MNL_CB_OK;
  r.type = rtm->rtm_type;
  r.dst.length = rtm->rtm_dst_len;
  r.dst.address = unspecified(r.family);
  if (tb[RTA_DST]) {
    if (auto a = address_of(tb[RTA_DST], r.family)) r.dst.address = *a;
  }
  if (tb[RTA_OIF]) r.ifindex = static_cast<int>(mnl_attr_get_u32(tb[RTA_OIF]));
  if (tb[RTA_PRIORITY]) r.priority = mnl_attr_get_u32(tb[RTA_PRIORITY]);
  dump->out.push_back(std::move(r));
  return MNL_CB_OK;
}

int on_rule(const nlmsghdr* nlh, void* data) {
  auto* out = static_cast<std::vector<RuleSpec>*>(data);
  const auto* frh = static_cast<const fib_rule_hdr*>(mnl_nlmsg_get_payload(nlh));
  const nlattr* tb[FRA_MAX + 1] = {};
  AttrTable table{tb, FRA_MAX};
  mnl_attr_parse(nlh, sizeof(*frh), collect_attr, &table);
  RuleSpec r;
  r.family = frh->family;
  r.action = frh->action;
  r.invert = (frh->flags & FIB_RULE_INVERT) != 0;
  r.table = tb[FRA_TABLE] ? mnl_attr_get_u32(tb[FRA_TABLE]) : frh->table;
  if (tb[FRA_PRIORITY]) r.priority = mnl_attr_get_u32(tb[FRA_PRIORITY]);
  if (tb[FRA_GOTO]) r.goto_priority = mnl_attr_get_u32(tb[FRA_GOTO]);
  if (tb[FRA_IIFNAME]) r.iif = mnl_attr_get_str(tb[FRA_IIFNAME]);
  if (tb[FRA_OIFNAME]) r.oif = mnl_attr_get_str(tb[FRA_OIFNAME]);
  if (tb[FRA_UID_RANGE] && mnl_attr_get_payload_len(tb[FRA_UID_RANGE]) >= sizeof(fib_rule_uid_range)) {
    fib_rule_uid_range u;
    std::memcpy(&u, mnl_attr_get_payload(tb[FRA_UID_RANGE]), sizeof(u));
    r.uid_range = UidRange{u.start, u.end};
  }
  if (tb[FRA_FWMARK]) r.fwmark = mnl_attr_get_u32(tb[FRA_FWMARK]);
  if (tb[FRA_FWMASK]) r.fwmask = mnl_attr_get_u32(tb[FRA_FWMASK]);
  if (tb[FRA_SUPPRESS_PREFIXLEN]) {
    // The kernel reports -1 (0xffffffff) for "not set".
    auto v = mnl_attr_get_u32(tb[FRA_SUPPRESS_PREFIXLEN]);
    if (v != 0xffffffffu) r.suppress_prefixlength = v;
  }
  if (tb[FRA_DST]) {
    if (auto a = address_of(tb[FRA_DST], r.family)) r.dst = IpPrefix{*a, frh->dst_len};
  }
  if (tb[FRA_SRC]) {
    if (auto a = address_of(tb[FRA_SRC], r.family)) r.src = IpPrefix{*a, frh->src_len};
  }
  if (tb[FRA_DPORT_RANGE] && mnl_attr_get_payload_len(tb[FRA_DPORT_RANGE]) >= sizeof(fib_rule_port_range)) {
    fib_rule_port_range p;
    std::memcpy(&p, mnl_attr_get_payload(tb[FRA_DPORT_RANGE]), sizeof(p));
    r.dport_range = std::make_pair(p.start, p.end);
  }
  out->push_back(std::move(r));
  return MNL_CB_OK;
}

// Sends a request and runs `cb` (null: none) on each reply until the ACK or
// NLMSG_DONE.
std::error_code exchange(mnl_socket* sock, std::uint32_t port, std::uint32_t seq, nlmsghdr* nlh,
                         mnl_cb_t cb, void* data) {
  nlh->nlmsg_seq = seq;
  if (mnl_socket_sendto(sock, nlh, nlh->nlmsg_len) < 0) return last_error();
  Buffer buf;
  for (;;) {
    ssize_t n = mnl_socket_recvfrom(sock, buf.data, sizeof(buf.data));
    if (n < 0) return last_error();
    int ret = mnl_cb_run(buf.data, static_cast<std::size_t>(n), seq, port, cb, data);
    if (ret < 0) return last_error();
    if (ret == MNL_CB_STOP) return {};
  }
}

// A dump request of `type` with a zeroed family header of `size` bytes
// whose first byte is the family (rtmsg, fib_rule_hdr).
nlmsghdr* dump_request(Buffer& buf, std::uint16_t type, std::size_t size, int family) {
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data);
  nlh->nlmsg_type = type;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  auto* header = static_cast<unsigned char*>(mnl_nlmsg_put_extra_header(nlh, size));
  header[0] = static_cast<unsigned char>(family);
  return nlh;
}

}  // namespace

int IpPrefix::family() const { return address.is_v6() ? AF_INET6 : AF_INET; }

std::string IpPrefix::to_string() const { return address.to_string() + "/" + std::to_string(length); }

std::optional<IpPrefix> parse_prefix(const std::string& text) {
  auto slash = text.find('/');
  std::error_code ec;
  auto addr = asio::ip::make_address(text.substr(0, slash), ec);
  if (ec) return std::nullopt;
  unsigned max = addr.is_v4() ? 32 : 128;
  unsigned len = max;
  if (slash != std::string::npos) {
    auto digits = text.substr(slash + 1);
    if (digits.empty() || digits.size() > 3) return std::nullopt;
    len = 0;
    for (char c : digits) {
      if (c < '0' || c > '9') return std::nullopt;
      len = len * 10 + static_cast<unsigned>(c - '0');
    }
    if (len > max) return std::nullopt;
  }
  return IpPrefix{addr, static_cast<std::uint8_t>(len)};
}

IpPrefix masked(const IpPrefix& p) {
  auto clear = [&](auto bytes) {
    for (std::size_t i = 0; i < bytes.size(); ++i) {
      std::size_t first_bit = i * 8;
      if (first_bit >= p.length) {
        bytes[i] = 0;
      } else if (first_bit + 8 > p.length) {
        bytes[i] &= static_cast<unsigned char>(0xff << (8 - (p.length - first_bit)));
      }
    }
    return bytes;
  };
  if (p.address.is_v4()) return {asio::ip::address_v4(clear(p.address.to_v4().to_bytes())), p.length};
  return {asio::ip::address_v6(clear(p.address.to_v6().to_bytes())), p.length};
}

net::Result<Netlink> Netlink::open(unsigned groups) {
  mnl_socket* s = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
  if (!s) return error_of(last_error(), "netlink socket");
  if (mnl_socket_bind(s, groups, MNL_SOCKET_AUTOPID) < 0) {
    auto ec = last_error();
    mnl_socket_close(s);
    return error_of(ec, "netlink bind");
  }
  // Errors must come back even for requests that succeed silently.
  int one = 1;
  mnl_socket_setsockopt(s, NETLINK_EXT_ACK, &one, sizeof(one));
  return Netlink(s);
}

Netlink::Netlink(mnl_socket* s)
    : sock_(s), port_(mnl_socket_get_portid(s)), seq_(static_cast<std::uint32_t>(std::time(nullptr))) {}

Netlink::Netlink(Netlink&& o) noexcept : sock_(o.sock_), port_(o.port_), seq_(o.seq_) { o.sock_ = nullptr; }

Netlink& Netlink::operator=(Netlink&& o) noexcept {
  if (this != &o) {
    if (sock_) mnl_socket_close(sock_);
    sock_ = o.sock_;
    port_ = o.port_;
    seq_ = o.seq_;
    o.sock_ = nullptr;
  }
  return *this;
}

Netlink::~Netlink() {
  if (sock_) mnl_socket_close(sock_);
}

int Netlink::fd() const { return mnl_socket_get_fd(sock_); }

std::error_code Netlink::request(void* msg) {
  // The ACK ends the exchange: MNL_CB_STOP on success, -1 with errno set from
  // the kernel's nlmsgerr otherwise.
  return exchange(sock_, port_, ++seq_, static_cast<nlmsghdr*>(msg), nullptr, nullptr);
}

std::error_code Netlink::add_route(const RouteSpec& r) {
  Buffer buf;
  return request(route_message(buf, r, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL));
}

std::error_code Netlink::delete_route(const RouteSpec& r) {
  Buffer buf;
  return request(route_message(buf, r, RTM_DELROUTE, 0));
}

std::error_code Netlink::add_rule(const RuleSpec& r) {
  Buffer buf;
  return request(rule_message(buf, r, RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL));
}

std::error_code Netlink::delete_rule(const RuleSpec& r) {
  Buffer buf;
  return request(rule_message(buf, r, RTM_DELRULE, 0));
}

net::Result<std::vector<RouteSpec>> Netlink::list_routes(int family, std::uint32_t table) {
  Buffer buf;
  RouteDump dump;
  dump.table = table;
  auto* nlh = dump_request(buf, RTM_GETROUTE, sizeof(rtmsg), family);
  if (auto ec = exchange(sock_, port_, ++seq_, nlh, on_route, &dump)) return error_of(ec, "list routes");
  return std::move(dump.out);
}

net::Result<std::vector<RuleSpec>> Netlink::list_rules(int family) {
  Buffer buf;
  std::vector<RuleSpec> out;
  auto* nlh = dump_request(buf, RTM_GETRULE, sizeof(fib_rule_hdr), family);
  if (auto ec = exchange(sock_, port_, ++seq_, nlh, on_rule, &out)) return error_of(ec, "list rules");
  return out;
}

net::Result<int> Netlink::default_route_interface(int family, int exclude_ifindex) {
  auto routes = list_routes(family, RT_TABLE_MAIN);
  if (!routes) return routes.error();
  int best = 0;
  std::uint32_t best_metric = 0;
  for (const auto& r : *routes) {
    if (r.dst.length != 0 || r.type != RTN_UNICAST || r.ifindex == 0 || r.ifindex == exclude_ifindex) continue;
    if (best == 0 || r.priority < best_metric) {
      best = r.ifindex;
      best_metric = r.priority;
    }
  }
  return best;
}

net::Result<bool> Netlink::read_notifications() {
  Buffer buf;
  ssize_t n = mnl_socket_recvfrom(sock_, buf.data, sizeof(buf.data));
  if (n < 0) {
    // ENOBUFS: notifications were lost; the caller must look again anyway.
    if (errno == ENOBUFS) return true;
    return error_of(last_error(), "netlink read");
  }
  bool changed = false;
  const auto* nlh = reinterpret_cast<const nlmsghdr*>(buf.data);
  int len = static_cast<int>(n);
  for (; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
    switch (nlh->nlmsg_type) {
      case RTM_NEWROUTE: case RTM_DELROUTE: case RTM_NEWLINK: case RTM_DELLINK:
      case RTM_NEWADDR: case RTM_DELADDR:
        changed = true;
        break;
      default:
        break;
    }
  }
  return changed;
}

int interface_index(const std::string& name) { return static_cast<int>(::if_nametoindex(name.c_str())); }

std::string interface_name(int index) {
  char buf[IF_NAMESIZE] = {};
  if (index <= 0 || !::if_indextoname(static_cast<unsigned>(index), buf)) return {};
  return buf;
}

}  // namespace anytls::tun
