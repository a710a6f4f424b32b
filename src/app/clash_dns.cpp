#include "app/clash_dns.hpp"

#include <algorithm>

#include <asio/ip/address.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "dns/message.hpp"

namespace anytls::app {

using json = nlohmann::ordered_json;

namespace {

std::string fqdn(const std::string& name) { return name + "."; }

// Record data as text: addresses and names as dig shows them, anything else
// in RFC 3597's generic form ("\# 4 0a000001").
std::string data_text(const dns::Record& r, std::span<const std::uint8_t> wire) {
  const auto& d = r.data;
  if (r.type == dns::type::a && d.size() == 4) {
    asio::ip::address_v4::bytes_type b{d[0], d[1], d[2], d[3]};
    return asio::ip::address_v4(b).to_string();
  }
  if (r.type == dns::type::aaaa && d.size() == 16) {
    asio::ip::address_v6::bytes_type b{};
    std::copy(d.begin(), d.end(), b.begin());
    return asio::ip::address_v6(b).to_string();
  }
  const std::size_t at = r.ttl_offset + 6;  // TTL (4) and RDLENGTH (2)
  if (r.ttl_offset != 0 && (r.type == dns::type::cname || r.type == dns::type::ns || r.type == dns::type::ptr))
    if (auto name = dns::read_name(wire, at)) return fqdn(*name);
  if (r.ttl_offset != 0 && r.type == dns::type::mx && d.size() > 2)
    if (auto name = dns::read_name(wire, at + 2)) return fmt::format("{} {}", d[0] << 8 | d[1], fqdn(*name));
  std::string hex;
  for (auto b : d) hex += fmt::format("{:02x}", b);
  return fmt::format("\\# {} {}", d.size(), hex);
}

json records(const std::vector<dns::Record>& rs, std::span<const std::uint8_t> wire) {
  json out = json::array();
  for (const auto& r : rs) {
    if (r.type == dns::type::opt) continue;  // EDNS, not an answer
    out.push_back(json{{"name", fqdn(r.name)}, {"type", r.type}, {"TTL", r.ttl}, {"data", data_text(r, wire)}});
  }
  return out;
}

}  // namespace

std::optional<std::vector<std::uint8_t>> dns_query_wire(std::string_view name, std::string_view type,
                                                        std::string& why) {
  auto qtype = dns::parse_type(type.empty() ? "A" : type);
  if (!qtype) {
    why = "invalid query type";
    return std::nullopt;
  }
  while (!name.empty() && name.back() == '.') name.remove_suffix(1);
  if (name.empty()) {
    why = "name: missing";
    return std::nullopt;
  }
  auto wire = dns::encode(dns::make_query(0, name, *qtype));
  if (!wire) why = "name: not a DNS name";
  return wire;
}

std::string dns_answer_json(std::span<const std::uint8_t> wire) {
  std::string why;
  auto m = dns::parse(wire, &why);
  if (!m) return json{{"message", "bad answer: " + why}}.dump();
  json questions = json::array();
  for (const auto& q : m->questions)
    questions.push_back(json{{"Name", fqdn(q.name)}, {"Qtype", q.type}, {"Qclass", q.klass}});
  json j{{"Status", m->rcode()},
         {"Question", std::move(questions)},
         {"Server", "internal"},
         {"TC", (m->flags & dns::flag::tc) != 0},
         {"RD", (m->flags & dns::flag::rd) != 0},
         {"RA", (m->flags & dns::flag::ra) != 0},
         {"AD", (m->flags & 0x0020) != 0},
         {"CD", (m->flags & 0x0010) != 0}};
  auto answer = records(m->answers, wire);
  auto authority = records(m->authority, wire);
  auto additional = records(m->additional, wire);
  if (!answer.empty()) j["Answer"] = std::move(answer);
  if (!authority.empty()) j["Authority"] = std::move(authority);
  if (!additional.empty()) j["Additional"] = std::move(additional);
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace anytls::app
