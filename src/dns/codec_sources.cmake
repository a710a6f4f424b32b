# The DNS message codec is pure too (fuzzed by tests/fuzz/fuzz_dns_message).
target_sources(anytls_codec PRIVATE src/dns/message.cpp)
