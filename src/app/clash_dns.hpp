// GET /dns/query?name=&type= (sing-box's and mihomo's Clash API; zashboard
// offers it as a tool): a lookup through the DNS module, answered in the
// JSON those APIs give (miekg/dns field names), as plain functions the
// endpoint calls around the DNS module's exchange().
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace anytls::app {

// The query for name and type ("A", "AAAA", ...; empty: A); nullopt and
// why when the name or the type is not one.
std::optional<std::vector<std::uint8_t>> dns_query_wire(std::string_view name, std::string_view type,
                                                        std::string& why);
// The answer: {"Status", "Question", "Server", "TC", "RD", "RA", "AD", "CD",
// "Answer", "Authority", "Additional"}; each record {"name", "type", "TTL",
// "data"} with data as dig shows it ("127.0.0.1", "target.example.").
std::string dns_answer_json(std::span<const std::uint8_t> wire);

}  // namespace anytls::app
