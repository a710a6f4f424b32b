# The tun packet codec and offload header are pure (fuzzed by tests/fuzz/fuzz_tun_packet).
target_sources(anytls_codec PRIVATE src/tun/packet.cpp src/tun/offload.cpp src/tun/nat.cpp)
