// app/clash_dns: GET /dns/query's query and answer JSON (sing-box's shape).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "app/clash_dns.hpp"
#include "dns/message.hpp"

namespace anytls::app {
namespace {

TEST(ClashDns, QueryRefusesBadTypesAndNames) {
  std::string why;
  EXPECT_TRUE(dns_query_wire("example.com.", "", why).has_value());
  EXPECT_FALSE(dns_query_wire("example.com", "NOPE", why).has_value());
  EXPECT_EQ(why, "invalid query type");
  EXPECT_FALSE(dns_query_wire("", "A", why).has_value());
  EXPECT_FALSE(dns_query_wire(std::string(70, 'a') + ".com", "A", why).has_value());
}

TEST(ClashDns, AnswerWithNamesAddressesAndOtherData) {
  std::string why;
  auto q = dns::parse(*dns_query_wire("www.example.com", "A", why));
  ASSERT_TRUE(q);
  auto reply = dns::make_reply(*q, dns::rcode::noerror);
  dns::Record cname;
  cname.name = "www.example.com";
  cname.type = dns::type::cname;
  cname.ttl = 60;
  const std::string target("\x03" "cdn\x07" "example\x03" "net\x00", 17);
  cname.data.assign(target.begin(), target.end());
  reply.answers.push_back(cname);
  const std::uint8_t v4[] = {10, 0, 0, 1};
  reply.answers.push_back(dns::address_record("cdn.example.net", v4, 30));
  dns::Record txt;
  txt.name = "cdn.example.net";
  txt.type = dns::type::txt;
  txt.data = {2, 'h', 'i'};
  reply.additional.push_back(txt);
  auto wire = dns::encode(reply);
  ASSERT_TRUE(wire);
  auto j = nlohmann::json::parse(dns_answer_json(*wire));
  EXPECT_EQ(j["Status"], 0);
  EXPECT_EQ(j["Question"][0]["Name"], "www.example.com.");
  EXPECT_EQ(j["Question"][0]["Qtype"], 1);
  EXPECT_EQ(j["RA"], true);
  ASSERT_EQ(j["Answer"].size(), 2u);
  EXPECT_EQ(j["Answer"][0]["data"], "cdn.example.net.");
  EXPECT_EQ(j["Answer"][0]["TTL"], 60);
  EXPECT_EQ(j["Answer"][1]["data"], "10.0.0.1");
  EXPECT_EQ(j["Answer"][1]["name"], "cdn.example.net.");
  // Anything else in RFC 3597's generic form; the query's OPT record is not listed.
  ASSERT_EQ(j["Additional"].size(), 1u);
  EXPECT_EQ(j["Additional"][0]["data"], "\\# 3 026869");
  EXPECT_FALSE(j.contains("Authority"));
}

}  // namespace
}  // namespace anytls::app
