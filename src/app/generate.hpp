// `anytls generate ...`: a self-signed TLS key pair and random bytes, with
// OpenSSL 3.
#pragma once
#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

namespace anytls::app {

struct KeyPair {
  std::string certificate_pem;
  std::string private_key_pem;  // PKCS#8 "PRIVATE KEY"
};

// A self-signed certificate for `name` (a DNS name or an IP literal, put in
// the subject CN and the subjectAltName), valid from now for `months` months,
// EC P-256 key, SHA-256 signature. Throws std::runtime_error with OpenSSL's
// message on failure.
KeyPair generate_tls_keypair(const std::string& name, int months);

// n random bytes from RAND_bytes. Throws std::runtime_error on failure.
std::vector<unsigned char> random_bytes(std::size_t n);

// A raw key pair: the bytes as WireGuard, REALITY and VAPID print them.
struct RawKeyPair {
  std::vector<unsigned char> private_key;
  std::vector<unsigned char> public_key;
};

// X25519, the private key clamped as WireGuard stores it (wg-keypair and
// reality-keypair print the same kind of key, in two encodings).
RawKeyPair generate_x25519_keypair();
// P-256: the 32-byte private scalar and the 65-byte uncompressed public
// point (VAPID, RFC 8292).
RawKeyPair generate_p256_raw_keypair();

std::string to_hex(const std::vector<unsigned char>& bytes);
std::string to_base64(const std::vector<unsigned char>& bytes);
// base64url without padding (Go's RawURLEncoding).
std::string to_base64_raw_url(const std::vector<unsigned char>& bytes);

}  // namespace anytls::app
