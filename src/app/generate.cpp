#include "app/generate.hpp"

#include <ctime>
#include <memory>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <asio/ip/address.hpp>

namespace anytls::app {
namespace {

template <auto Fn>
struct Deleter {
  template <class T>
  void operator()(T* p) const { Fn(p); }
};
using PKeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO_free>>;
using ExtPtr = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION_free>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BN_free>>;

[[noreturn]] void throw_openssl(const std::string& what) {
  std::string msg = what;
  if (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    msg += ": ";
    msg += buf;
  }
  ERR_clear_error();
  throw std::runtime_error(msg);
}

void check(bool ok, const char* what) {
  if (!ok) throw_openssl(what);
}

std::string bio_string(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(len));
}

void add_ext(X509* cert, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  ExtPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  check(ext != nullptr, "X509V3_EXT_conf_nid");
  check(X509_add_ext(cert, ext.get(), -1) == 1, "X509_add_ext");
}

}  // namespace

KeyPair generate_tls_keypair(const std::string& name, int months) {
  if (name.empty()) throw std::runtime_error("empty name");
  if (months <= 0) throw std::runtime_error("months must be positive");
  for (char c : name) {
    if (c == ',' || c == '/' || c == ' ' || c == '\n' || c == '\r' || c == '\0') throw std::runtime_error("invalid name");
  }

  PKeyPtr key(EVP_EC_gen("P-256"));
  check(key != nullptr, "EVP_EC_gen");

  X509Ptr cert(X509_new());
  check(cert != nullptr, "X509_new");
  check(X509_set_version(cert.get(), X509_VERSION_3) == 1, "X509_set_version");

  // Random positive 127-bit serial.
  BnPtr serial(BN_new());
  check(serial && BN_rand(serial.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) == 1, "BN_rand");
  check(BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) != nullptr, "serial");

  // notAfter: the same day and time `months` calendar months later.
  std::time_t now = std::time(nullptr);
  std::tm until{};
  gmtime_r(&now, &until);
  until.tm_mon += months;
  std::time_t not_after = timegm(&until);
  check(ASN1_TIME_set(X509_getm_notBefore(cert.get()), now) != nullptr, "notBefore");
  check(ASN1_TIME_set(X509_getm_notAfter(cert.get()), not_after) != nullptr, "notAfter");

  X509_NAME* subject = X509_get_subject_name(cert.get());
  check(X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(name.c_str()), -1, -1, 0) == 1,
        "subject CN");
  check(X509_set_issuer_name(cert.get(), subject) == 1, "issuer");
  check(X509_set_pubkey(cert.get(), key.get()) == 1, "X509_set_pubkey");

  std::error_code ec;
  (void)asio::ip::make_address(name, ec);
  // No keyUsage: with one lacking keyCertSign OpenSSL would not treat the
  // certificate as self-signed, and clients could not pin it as their CA.
  add_ext(cert.get(), NID_basic_constraints, "critical,CA:FALSE");
  add_ext(cert.get(), NID_subject_key_identifier, "hash");
  add_ext(cert.get(), NID_authority_key_identifier, "keyid:always");
  add_ext(cert.get(), NID_ext_key_usage, "serverAuth");
  add_ext(cert.get(), NID_subject_alt_name, (ec ? "DNS:" : "IP:") + name);

  check(X509_sign(cert.get(), key.get(), EVP_sha256()) > 0, "X509_sign");

  BioPtr cert_bio(BIO_new(BIO_s_mem()));
  check(cert_bio && PEM_write_bio_X509(cert_bio.get(), cert.get()) == 1, "PEM_write_bio_X509");
  BioPtr key_bio(BIO_new(BIO_s_mem()));
  check(key_bio && PEM_write_bio_PrivateKey(key_bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1,
        "PEM_write_bio_PrivateKey");
  return {bio_string(cert_bio.get()), bio_string(key_bio.get())};
}

std::vector<unsigned char> random_bytes(std::size_t n) {
  std::vector<unsigned char> out(n);
  if (n > 0) check(RAND_bytes(out.data(), static_cast<int>(n)) == 1, "RAND_bytes");
  return out;
}

RawKeyPair generate_x25519_keypair() {
  RawKeyPair kp;
  kp.private_key = random_bytes(32);
  auto& k = kp.private_key;
  k[0] &= 248;
  k[31] = static_cast<unsigned char>((k[31] & 127) | 64);
  PKeyPtr key(EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, k.data(), k.size()));
  check(key != nullptr, "EVP_PKEY_new_raw_private_key");
  std::size_t len = 32;
  kp.public_key.resize(len);
  check(EVP_PKEY_get_raw_public_key(key.get(), kp.public_key.data(), &len) == 1 && len == 32,
        "EVP_PKEY_get_raw_public_key");
  return kp;
}

RawKeyPair generate_p256_raw_keypair() {
  PKeyPtr key(EVP_EC_gen("P-256"));
  check(key != nullptr, "EVP_EC_gen");
  RawKeyPair kp;
  BIGNUM* d = nullptr;
  check(EVP_PKEY_get_bn_param(key.get(), OSSL_PKEY_PARAM_PRIV_KEY, &d) == 1, "private key");
  BnPtr scalar(d);
  kp.private_key.resize(32);
  check(BN_bn2binpad(scalar.get(), kp.private_key.data(), 32) == 32, "BN_bn2binpad");
  kp.public_key.resize(65);
  std::size_t len = 0;
  check(EVP_PKEY_get_octet_string_param(key.get(), OSSL_PKEY_PARAM_PUB_KEY, kp.public_key.data(),
                                        kp.public_key.size(), &len) == 1 && len == 65,
        "public key");
  return kp;
}

std::string to_hex(const std::vector<unsigned char>& bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) {
    out += kDigits[b >> 4];
    out += kDigits[b & 15];
  }
  return out;
}

std::string to_base64(const std::vector<unsigned char>& bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), bytes.data(), static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::string to_base64_raw_url(const std::vector<unsigned char>& bytes) {
  std::string out = to_base64(bytes);
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) {
    if (c == '+') c = '-';
    else if (c == '/') c = '_';
  }
  return out;
}

}  // namespace anytls::app
