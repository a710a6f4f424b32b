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

std::string to_hex(const std::vector<unsigned char>& bytes);
std::string to_base64(const std::vector<unsigned char>& bytes);

}  // namespace anytls::app
