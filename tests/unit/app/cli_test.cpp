// Runs the built `anytls` binary (ANYTLS_BIN) and checks exit codes and output.
#include <sys/stat.h>
#include <sys/wait.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "config/load.hpp"

namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;
using ::testing::StartsWith;

struct Outcome {
  int rc = -1;
  std::string out;
  std::string err;
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void spit(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
}

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* bin = std::getenv("ANYTLS_BIN");
    ASSERT_NE(bin, nullptr) << "ANYTLS_BIN not set (run through ctest)";
    bin_ = bin;
    ASSERT_TRUE(fs::exists(bin_)) << bin_;
    const char* src = std::getenv("ANYTLS_SOURCE_DIR");
    ASSERT_NE(src, nullptr);
    source_ = src;
    dir_ = fs::path(::testing::TempDir()) /
           ("anytls_cli_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  Outcome run(const std::string& args, const std::string& input = "/dev/null") {
    fs::path out = dir_ / "stdout", err = dir_ / "stderr";
    std::string cmd = "'" + bin_ + "' " + args + " >'" + out.string() + "' 2>'" + err.string() + "' <'" + input + "'";
    int status = std::system(cmd.c_str());
    Outcome r;
    r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = slurp(out);
    r.err = slurp(err);
    return r;
  }

  std::string bin_;
  fs::path source_;
  fs::path dir_;
};

TEST_F(Cli, Version) {
  Outcome r = run("version");
  EXPECT_EQ(r.rc, 0);
  // sing-box's layout plus the TLS library.
  EXPECT_THAT(r.out, StartsWith("anytls-cpp version " ANYTLS_VERSION "\n\nEnvironment: "));
  EXPECT_THAT(r.out, MatchesRegex("(.|\n)*\nTLS: OpenSSL 3[^\n]*\n"));
  EXPECT_EQ(run("-v").out, r.out);
  EXPECT_EQ(run("--version").out, r.out);
  EXPECT_EQ(run("version -n").out, ANYTLS_VERSION "\n");
}

TEST_F(Cli, HelpIsOk) {
  EXPECT_EQ(run("--help").rc, 0);
  Outcome h = run("help");
  EXPECT_EQ(h.rc, 0);
  EXPECT_THAT(h.out, HasSubstr("Usage"));
  for (const char* sub : {"run", "check", "format", "version", "generate", "generate tls-keypair", "generate rand",
                          "generate uuid", "generate link", "rule-set", "rule-set compile", "rule-set decompile",
                          "rule-set match", "rule-set format", "rule-set upgrade", "rule-set merge", "merge"}) {
    Outcome r = run(std::string(sub) + " --help");
    EXPECT_EQ(r.rc, 0) << sub;
    EXPECT_THAT(r.out, HasSubstr("Usage")) << sub;
  }
}

TEST_F(Cli, UsageErrors) {
  EXPECT_EQ(run("").rc, 1);
  Outcome r = run("frobnicate");
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.err, "error: unknown command \"frobnicate\" for \"anytls\" (run check format version generate rule-set merge tools)\n");
  r = run("-D /tmp frobnicate -c x.json");
  EXPECT_EQ(r.rc, 1);
  EXPECT_THAT(r.err, HasSubstr("unknown command \"frobnicate\""));
  EXPECT_EQ(run("check --no-such-flag").rc, 1);
  EXPECT_EQ(run("generate").rc, 1);
  EXPECT_EQ(run("generate rand").rc, 1);
  EXPECT_EQ(run("generate rand 16 --hex --base64").rc, 1);
  EXPECT_EQ(run("generate tls-keypair").rc, 1);
}

TEST_F(Cli, CheckGoodExamples) {
  for (const char* f : {"client.json", "strategy-balanced.json"}) {
    Outcome r = run("check -c '" + (source_ / "examples" / f).string() + "'");
    EXPECT_EQ(r.rc, 0) << f << ": " << r.err;
    EXPECT_EQ(r.err, "") << f;
  }
  // The examples that name certificate files check once the files exist
  // (check reads them, as run does).
  ASSERT_EQ(run("generate tls-keypair localhost --out-dir '" + (dir_ / "examples" / "certs").string() +
                "' --file-name loopback").rc, 0);
  Outcome r = run("-D '" + dir_.string() + "' check -c '" + (source_ / "examples" / "loopback.json").string() + "'");
  EXPECT_EQ(r.rc, 0) << r.err;
  ASSERT_EQ(run("generate tls-keypair example.com --out-dir '" + dir_.string() + "'").rc, 0);
  std::string server = slurp(source_ / "examples" / "server.json");
  for (auto at = server.find("/etc/anytls/"); at != std::string::npos; at = server.find("/etc/anytls/"))
    server.replace(at, 12, dir_.string() + "/");
  spit(dir_ / "server.json", server);
  r = run("check -c '" + (dir_ / "server.json").string() + "'");
  EXPECT_EQ(r.rc, 0) << r.err;
}

TEST_F(Cli, CheckBuildsWhatRunBuilds) {
  // A certificate file that does not exist: check fails like run would.
  std::string in = R"({"inbounds": [{"type": "anytls", "listen": "127.0.0.1", "users": [{"password": "p"}],
      "tls": {"enabled": true, "certificate_path": ")" + (dir_ / "nope.crt").string() + R"(", "key_path": "k.key"}}]})";
  spit(dir_ / "c.json", in);
  Outcome r = run("check -c '" + (dir_ / "c.json").string() + "'");
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.err, "error: inbounds[0].tls.certificate_path: cannot read file " + (dir_ / "nope.crt").string() + "\n");
  r = run("run -c '" + (dir_ / "c.json").string() + "'");
  EXPECT_EQ(r.rc, 1);
  EXPECT_THAT(r.err, HasSubstr("inbounds[0].tls.certificate_path"));

  // A file that is not a certificate.
  spit(dir_ / "junk.crt", "not a certificate");
  ASSERT_EQ(run("generate tls-keypair x.test --out-dir '" + dir_.string() + "'").rc, 0);
  spit(dir_ / "c.json", R"({"inbounds": [{"type": "anytls", "listen": "127.0.0.1", "users": [{"password": "p"}],
      "tls": {"enabled": true, "certificate_path": "junk.crt", "key_path": "x.test.key"}}]})");
  r = run("-D '" + dir_.string() + "' check -c c.json");
  EXPECT_EQ(r.rc, 1);
  EXPECT_THAT(r.err, StartsWith("error: inbounds[0].tls.certificate: no PEM certificate found"));

  // Client side: a CA file that does not exist, a bad cipher suite.
  spit(dir_ / "o.json", R"({"outbounds": [{"type": "anytls", "server": "s", "server_port": 1, "password": "p",
      "tls": {"enabled": true, "certificate_path": "/nonexistent/ca.pem"}}]})");
  r = run("check -c '" + (dir_ / "o.json").string() + "'");
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.err, "error: outbounds[0].tls.certificate_path: cannot read file /nonexistent/ca.pem\n");
  spit(dir_ / "o.json", R"({"outbounds": [{"type": "anytls", "server": "s", "server_port": 1, "password": "p",
      "tls": {"enabled": true, "cipher_suites": ["TLS_NOPE"]}}]})");
  r = run("check -c '" + (dir_ / "o.json").string() + "'");
  EXPECT_EQ(r.rc, 1);
  EXPECT_THAT(r.err, StartsWith("error: outbounds[0].tls: unknown or unsupported cipher suite: TLS_NOPE"));
}

TEST_F(Cli, GlobalOptionsAnywhereStdinAndWorkdir) {
  fs::create_directories(dir_ / "etc");
  spit(dir_ / "etc" / "10.json", R"({"outbounds": [{"type": "block", "tag": "b"}]})");
  // sing-box's unit: anytls -D /var/lib/x -C /etc/x run (-D is created).
  fs::path work = dir_ / "var" / "lib" / "anytls";
  Outcome r = run("-D '" + work.string() + "' -C '" + (dir_ / "etc").string() + "' check");
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_TRUE(fs::is_directory(work));
  EXPECT_EQ(run("check -C '" + (dir_ / "etc").string() + "' --disable-color").rc, 0);
  EXPECT_EQ(run("--disable-color check -C '" + (dir_ / "etc").string() + "'").rc, 0);

  // -c stdin, alone or merged with a file.
  spit(dir_ / "in.json", R"({"route": {"final": "b"}})");
  r = run("check -c '" + (dir_ / "etc" / "10.json").string() + "' -c stdin", (dir_ / "in.json").string());
  EXPECT_EQ(r.rc, 0) << r.err;
  spit(dir_ / "bad.json", R"({"route": {"final": "nope"}})");
  r = run("-c stdin check", (dir_ / "bad.json").string());
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.err, "error: route.final: unknown outbound \"nope\"\n");
  spit(dir_ / "log.json", R"({"log": {"level": "warn"}})");
  r = run("format -c stdin", (dir_ / "log.json").string());
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "{\n  \"log\": {\n    \"level\": \"warn\"\n  }\n}\n");
}

TEST_F(Cli, GenerateUuidAndLink) {
  Outcome r = run("generate uuid");
  EXPECT_EQ(r.rc, 0);
  EXPECT_THAT(r.out, MatchesRegex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\n"));

  spit(dir_ / "c.json", R"({"outbounds": [{"type": "anytls", "tag": "proxy", "server": "example.com",
      "server_port": 8443, "password": "s3cr3t/+", "ensure_idle_session": 2,
      "tls": {"enabled": true, "server_name": "cdn.example.com", "insecure": true}}, {"type": "direct"}]})");
  r = run("generate link -c '" + (dir_ / "c.json").string() + "'");
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "anytls://s3cr3t%2F%2B@example.com:8443/?sni=cdn.example.com&insecure=1&ensure_idle_session=2#proxy\n");
  // The link reads back into the same outbound.
  auto a = std::get<anytls::config::AnyTlsOutboundOptions>(
      anytls::config::parse_anytls_uri(r.out.substr(0, r.out.size() - 1)).options);
  EXPECT_EQ(a.password, "s3cr3t/+");
  EXPECT_EQ(a.ensure_idle_session, 2);
  r = run("-c '" + (dir_ / "c.json").string() + "' generate link nope");
  EXPECT_EQ(r.rc, 1);
  EXPECT_THAT(r.err, HasSubstr("no anytls outbound or inbound tagged \"nope\""));
}

TEST_F(Cli, CheckBadNamesThePath) {
  spit(dir_ / "bad.json", R"({"outbounds": [{"type": "direct"}, {"type": "anytls", "server": "s", "server_port": 1,
      "password": "p", "tls": {"enabled": true, "reality": {"enabled": true}}}]})");
  Outcome r = run("check -c '" + (dir_ / "bad.json").string() + "'");
  EXPECT_EQ(r.rc, 1);
  EXPECT_THAT(r.err, StartsWith("error: outbounds[1].tls.reality: not supported"));

  spit(dir_ / "dur.json", R"({"outbounds": [{"type": "anytls", "server": "s", "server_port": 1, "password": "p",
      "idle_session_timeout": "5x", "tls": {"enabled": true}}]})");
  r = run("check -c '" + (dir_ / "dur.json").string() + "'");
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.err, "error: outbounds[0].idle_session_timeout: invalid duration \"5x\"\n");

  r = run("check -c '" + (dir_ / "missing.json").string() + "'");
  EXPECT_EQ(r.rc, 1);
  EXPECT_THAT(r.err, HasSubstr("missing.json"));

  r = run("run -c '" + (dir_ / "dur.json").string() + "'");
  EXPECT_EQ(r.rc, 1);
  EXPECT_THAT(r.err, HasSubstr("outbounds[0].idle_session_timeout"));
}

#ifdef ANYTLS_HAVE_UTLS
TEST_F(Cli, RunWithoutTheUtlsModuleSaysWhereItLooked) {
  spit(dir_ / "utls.json", R"({"outbounds": [{"type": "anytls", "tag": "proxy", "server": "127.0.0.1",
      "server_port": 1, "password": "p", "tls": {"enabled": true, "utls": {"enabled": true}}}]})");
  EXPECT_EQ(run("check -c '" + (dir_ / "utls.json").string() + "'").rc, 0);
  ::setenv("ANYTLS_UTLS_MODULE", "/nonexistent/libanytls_utls.so", 1);
  Outcome r = run("run -c '" + (dir_ / "utls.json").string() + "'");
  ::unsetenv("ANYTLS_UTLS_MODULE");
  EXPECT_NE(r.rc, 0);
  // `run` checks what it builds first (as `check` does), so the missing
  // module is reported with the JSON path.
  EXPECT_THAT(r.err, HasSubstr("outbounds[0].tls.utls: the Chrome ClientHello module libanytls_utls.so was "
                               "not found (looked at /nonexistent/libanytls_utls.so"));
}
#endif

TEST_F(Cli, MergeDirectoryAndWorkdir) {
  fs::create_directories(dir_ / "conf.d");
  spit(dir_ / "conf.d" / "10-out.json", R"({"outbounds": [{"type": "block", "tag": "b"}]})");
  spit(dir_ / "conf.d" / "20-route.json", R"({"route": {"final": "b"}})");
  spit(dir_ / "conf.d" / "ignored.txt", "not json");
  EXPECT_EQ(run("check -C '" + (dir_ / "conf.d").string() + "'").rc, 0);
  // Only the second file: route.final names an outbound that does not exist.
  Outcome r = run("check -c '" + (dir_ / "conf.d" / "20-route.json").string() + "'");
  EXPECT_EQ(r.rc, 1);
  EXPECT_THAT(r.err, HasSubstr("route.final"));
  // -D first, then relative paths; two -c files merge.
  EXPECT_EQ(run("check -D '" + dir_.string() + "' -c conf.d/10-out.json -c conf.d/20-route.json").rc, 0);
  // Default file name config.json in the working directory.
  spit(dir_ / "config.json", "{}");
  EXPECT_EQ(run("check -D '" + dir_.string() + "'").rc, 0);
}

TEST_F(Cli, Format) {
  const std::string text = "{ // comment\n \"log\": {\"level\": \"warn\"}, \"outbounds\": [{\"type\": \"direct\"}] }";
  spit(dir_ / "f.json", text);
  Outcome r = run("format -c '" + (dir_ / "f.json").string() + "'");
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "{\n  \"log\": {\n    \"level\": \"warn\"\n  },\n  \"outbounds\": [\n    {\n      \"type\": \"direct\"\n    }\n  ]\n}\n");
  EXPECT_EQ(slurp(dir_ / "f.json"), text);  // untouched without -w
  r = run("format -w -c '" + (dir_ / "f.json").string() + "'");
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(slurp(dir_ / "f.json"), r.out.empty() ? run("format -c '" + (dir_ / "f.json").string() + "'").out : r.out);
  EXPECT_EQ(slurp(dir_ / "f.json").find("comment"), std::string::npos);
  EXPECT_NO_THROW((void)anytls::config::load_file(dir_ / "f.json"));

  spit(dir_ / "bad.json", R"({"log": {"level": "loud"}})");
  r = run("format -c '" + (dir_ / "bad.json").string() + "'");
  EXPECT_EQ(r.rc, 1);
  EXPECT_THAT(r.err, HasSubstr("log.level"));
}

TEST_F(Cli, GenerateRand) {
  Outcome r = run("generate rand 16 --hex");
  EXPECT_EQ(r.rc, 0);
  EXPECT_THAT(r.out, MatchesRegex("[0-9a-f]{32}\n"));
  Outcome r2 = run("generate rand 16 --hex");
  EXPECT_NE(r.out, r2.out);
  r = run("generate rand 16 --base64");
  EXPECT_EQ(r.rc, 0);
  EXPECT_THAT(r.out, MatchesRegex("[A-Za-z0-9+/]{22}==\n"));
  r = run("generate rand 16");
  EXPECT_EQ(r.rc, 0);
  EXPECT_EQ(r.out.size(), 16u);
  EXPECT_EQ(run("generate rand 0").rc, 1);
}

// base64 or base64url, with or without padding.
std::vector<unsigned char> decode_base64(std::string text) {
  for (char& c : text) {
    if (c == '-') c = '+';
    else if (c == '_') c = '/';
  }
  while (text.size() % 4 != 0) text += '=';
  std::vector<unsigned char> out(text.size() / 4 * 3);
  int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0) return {};
  std::size_t pad = 0;
  for (auto it = text.rbegin(); it != text.rend() && *it == '='; ++it) ++pad;
  out.resize(static_cast<std::size_t>(n) - pad);
  return out;
}

// "PrivateKey: A\nPublicKey: B\n" → {A, B} decoded, each of `charset`'s
// characters only ({} when the output has another shape). No std::regex:
// GCC 12 warns inside it at -O1 with the sanitizers.
std::pair<std::vector<unsigned char>, std::vector<unsigned char>> key_lines(const std::string& out,
                                                                              const std::string& charset) {
  const std::string a = "PrivateKey: ", b = "\nPublicKey: ";
  const auto mid = out.find(b);
  if (out.rfind(a, 0) != 0 || mid == std::string::npos || out.empty() || out.back() != '\n') return {};
  const std::string priv = out.substr(a.size(), mid - a.size());
  const std::string pub = out.substr(mid + b.size(), out.size() - 1 - mid - b.size());
  auto only = [&](const std::string& t) { return !t.empty() && t.find_first_not_of(charset) == std::string::npos; };
  if (!only(priv) || !only(pub)) return {};
  return {decode_base64(priv), decode_base64(pub)};
}

const std::string kBase64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";
const std::string kBase64Url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::vector<unsigned char> x25519_public(const std::vector<unsigned char>& priv) {
  EVP_PKEY* key = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, priv.data(), priv.size());
  std::vector<unsigned char> pub(32);
  std::size_t len = pub.size();
  if (!key || EVP_PKEY_get_raw_public_key(key, pub.data(), &len) != 1) pub.clear();
  EVP_PKEY_free(key);
  return pub;
}

TEST_F(Cli, GenerateRawKeyPairsAsSingBoxPrintsThem) {
  // wg-keypair: standard base64, a clamped X25519 private key and its public key.
  Outcome r = run("generate wg-keypair");
  ASSERT_EQ(r.rc, 0) << r.err;
  auto [wg_priv, wg_pub] = key_lines(r.out, kBase64);
  ASSERT_EQ(wg_priv.size(), 32u) << r.out;
  EXPECT_EQ(wg_priv[0] & 7, 0);
  EXPECT_EQ(wg_priv[31] & 0xc0, 0x40);
  EXPECT_EQ(wg_pub, x25519_public(wg_priv));
  EXPECT_NE(run("generate wg-keypair").out, r.out);

  // reality-keypair: the same kind of key in unpadded base64url.
  r = run("generate reality-keypair");
  ASSERT_EQ(r.rc, 0) << r.err;
  auto [re_priv, re_pub] = key_lines(r.out, kBase64Url);
  ASSERT_EQ(re_priv.size(), 32u) << r.out;
  EXPECT_EQ(re_pub, x25519_public(re_priv));

  // vapid-keypair: a P-256 scalar and its uncompressed point, base64url.
  r = run("generate vapid-keypair");
  ASSERT_EQ(r.rc, 0) << r.err;
  auto [va_priv, va_pub] = key_lines(r.out, kBase64Url);
  EXPECT_EQ(va_priv.size(), 32u) << r.out;
  ASSERT_EQ(va_pub.size(), 65u) << r.out;
  EXPECT_EQ(va_pub[0], 0x04);

  // What we cannot serve says so by name, not "a subcommand is required".
  r = run("generate ech-keypair example.com");
  EXPECT_NE(r.rc, 0);
  EXPECT_THAT(r.err, HasSubstr("generate ech-keypair: not supported"));
}

X509* parse_cert(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  return cert;
}

TEST_F(Cli, GenerateTlsKeypairToStdout) {
  Outcome r = run("generate tls-keypair example.test --months 2");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("-----BEGIN CERTIFICATE-----"));
  EXPECT_THAT(r.out, HasSubstr("-----BEGIN " "PRIVATE KEY-----"));
  X509* cert = parse_cert(r.out);
  ASSERT_NE(cert, nullptr);
  EXPECT_EQ(X509_check_host(cert, "example.test", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_host(cert, "other.test", 0, 0, nullptr), 0);
  EVP_PKEY* pub = X509_get0_pubkey(cert);
  ASSERT_NE(pub, nullptr);
  EXPECT_TRUE(EVP_PKEY_is_a(pub, "EC"));
  EXPECT_EQ(X509_verify(cert, pub), 1);  // self-signed
  // Valid now, expired in a year.
  EXPECT_EQ(X509_cmp_current_time(X509_get0_notBefore(cert)), -1);
  std::time_t in_year = std::time(nullptr) + 365 * 86400;
  EXPECT_EQ(X509_cmp_time(X509_get0_notAfter(cert), &in_year), -1);
  X509_free(cert);
}

// A symlink at the key's path is replaced, never followed: the file it
// points to keeps its content. A new --out-dir is private (0700) even under
// umask 000.
TEST_F(Cli, GenerateTlsKeypairDoesNotFollowLinksAndMakesAPrivateDir) {
  fs::create_directories(dir_ / "out");
  fs::path victim = dir_ / "victim.txt";
  spit(victim, "precious");
  fs::create_symlink(victim, dir_ / "out" / "k.key");
  Outcome r = run("generate tls-keypair k.test --out-dir '" + (dir_ / "out").string() + "' --file-name k");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(slurp(victim), "precious") << "the key was written through the link";
  EXPECT_FALSE(fs::is_symlink(dir_ / "out" / "k.key"));
  EXPECT_THAT(slurp(dir_ / "out" / "k.key"), StartsWith("-----BEGIN " "PRIVATE KEY-----"));

  mode_t old = ::umask(0);
  Outcome r2 = run("generate tls-keypair k.test --out-dir '" + (dir_ / "fresh" / "dir").string() + "'");
  ::umask(old);
  ASSERT_EQ(r2.rc, 0) << r2.err;
  struct stat st {};
  ASSERT_EQ(::stat((dir_ / "fresh" / "dir").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
}

TEST_F(Cli, GenerateTlsKeypairFiles) {
  Outcome r = run("generate tls-keypair 127.0.0.1 --out-dir '" + (dir_ / "certs").string() + "' --file-name loopback");
  ASSERT_EQ(r.rc, 0) << r.err;
  fs::path crt = dir_ / "certs" / "loopback.crt", key = dir_ / "certs" / "loopback.key";
  ASSERT_TRUE(fs::exists(crt));
  ASSERT_TRUE(fs::exists(key));
  struct stat st {};
  ASSERT_EQ(::stat(key.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  X509* cert = parse_cert(slurp(crt));
  ASSERT_NE(cert, nullptr);
  EXPECT_EQ(X509_check_ip_asc(cert, "127.0.0.1", 0), 1);
  X509_free(cert);
  EXPECT_THAT(slurp(key), StartsWith("-----BEGIN " "PRIVATE KEY-----"));
  // The OpenSSL command line accepts it as its own trust anchor.
  std::string verify = "openssl verify -CAfile '" + crt.string() + "' '" + crt.string() + "' >/dev/null 2>&1";
  if (std::system("command -v openssl >/dev/null 2>&1") == 0) {
    EXPECT_EQ(std::system(verify.c_str()), 0);
  }
}

// rule-set compile / decompile / match / format / upgrade / merge and
// merge: sing-box's commands (cmd_rule_set_*.go, cmd_merge.go).

const char* kRuleSource = R"({
  // comments are allowed
  "version": 3,
  "rules": [
    {"domain_suffix": [".sub.example", "suffix.example"], "domain": "exact.example"},
    {"ip_cidr": ["10.128.0.0/9", "10.0.0.0/9", "2001:db8::1"]},
    {"type": "logical", "mode": "or", "rules": [{"network": "udp"}, {"domain_keyword": "kw"}], "invert": true}
  ]
})";

// What decompile gives back for kRuleSource (compiled at version 2).
const char* kRuleJson = R"({
  "version": 2,
  "rules": [
    {
      "domain": "exact.example",
      "domain_suffix": [
        ".sub.example",
        "suffix.example"
      ]
    },
    {
      "ip_cidr": [
        "10.0.0.0/8",
        "2001:db8::1/128"
      ]
    },
    {
      "type": "logical",
      "mode": "or",
      "rules": [
        {
          "network": "udp"
        },
        {
          "domain_keyword": "kw"
        }
      ],
      "invert": true
    }
  ]
}
)";

TEST_F(Cli, RuleSetCompileAndDecompile) {
  spit(dir_ / "set.json", kRuleSource);
  Outcome r = run("rule-set compile '" + (dir_ / "set.json").string() + "'");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out + r.err, "");
  const std::string srs = slurp(dir_ / "set.srs");  // sing-box's default: .json replaced
  EXPECT_EQ(srs.substr(0, 4), std::string("SRS\x02"));  // version 3 with no version-3 item: 2
  r = run("rule-set decompile '" + (dir_ / "set.srs").string() + "' -o '" + (dir_ / "back.json").string() + "'");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(slurp(dir_ / "back.json"), kRuleJson);
  // Default names: .srs replaced; without the extension, one added.
  fs::copy_file(dir_ / "set.srs", dir_ / "plain");
  ASSERT_EQ(run("rule-set decompile '" + (dir_ / "set.srs").string() + "'").rc, 0);
  EXPECT_EQ(slurp(dir_ / "set.json"), kRuleJson);
  ASSERT_EQ(run("rule-set decompile '" + (dir_ / "plain").string() + "'").rc, 0);
  EXPECT_EQ(slurp(dir_ / "plain.json"), kRuleJson);
  ASSERT_EQ(run("rule-set compile -o '" + (dir_ / "again.srs").string() + "' stdin", (dir_ / "back.json").string()).rc, 0);
  EXPECT_EQ(slurp(dir_ / "again.srs"), srs);
  // -D applies, as for every sing-box command: relative paths are its.
  r = run("-D '" + dir_.string() + "' rule-set compile back.json -o relative.srs");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(slurp(dir_ / "relative.srs"), srs);
  // The compiled set loads as a local rule set.
  spit(dir_ / "config.json", R"({"outbounds":[{"type":"direct","tag":"d"}],"route":{"rule_set":[
    {"type":"local","tag":"s","path":")" + (dir_ / "again.srs").string() + R"("}],"rules":[{"rule_set":"s","outbound":"d"}]}})");
  r = run("check -c '" + (dir_ / "config.json").string() + "'");
  EXPECT_EQ(r.rc, 0) << r.err;
}

TEST_F(Cli, RuleSetDecompilesASingBoxFixture) {
  const fs::path sample = source_ / "tests/unit/route/data/sample.srs";
  Outcome r = run("rule-set decompile '" + sample.string() + "' -o '" + (dir_ / "sample.json").string() + "'");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(slurp(dir_ / "sample.json"), R"({
  "version": 2,
  "rules": [
    {
      "domain": "exact.example",
      "domain_suffix": [
        ".sub.example",
        "suffix.example"
      ],
      "domain_keyword": "kw",
      "domain_regex": "^re[0-9]+\\.",
      "port": [
        443,
        8443
      ],
      "port_range": "1000:2000"
    },
    {
      "ip_cidr": [
        "10.0.0.0/8",
        "192.168.1.0/24",
        "2001:db8::/32"
      ]
    },
    {
      "type": "logical",
      "mode": "or",
      "rules": [
        {
          "network": "udp"
        },
        {
          "source_ip_cidr": "172.16.0.0/12"
        }
      ],
      "invert": true
    }
  ]
}
)");
}

TEST_F(Cli, RuleSetErrorsNameTheFile) {
  spit(dir_ / "bad.json", R"({"version": 2, "rules": [{"domain": "a"}, {"ip_cidr": ["300.1.1.1/8"]}]})");
  Outcome r = run("rule-set compile '" + (dir_ / "bad.json").string() + "'");
  EXPECT_EQ(r.rc, 1);
  EXPECT_THAT(r.err, StartsWith("error: " + (dir_ / "bad.json").string() + ".rules[1].ip_cidr[0]: "));
  EXPECT_FALSE(fs::exists(dir_ / "bad.srs"));
  spit(dir_ / "v9.json", R"({"version": 9, "rules": []})");
  r = run("rule-set compile '" + (dir_ / "v9.json").string() + "'");
  EXPECT_EQ(r.rc, 1);
  EXPECT_THAT(r.err, HasSubstr("version: unknown rule-set version 9 (1 2 3)"));
  spit(dir_ / "junk.srs", "SRS\x02not zlib");
  r = run("rule-set decompile '" + (dir_ / "junk.srs").string() + "'");
  EXPECT_EQ(r.rc, 1);
  EXPECT_THAT(r.err, StartsWith("error: " + (dir_ / "junk.srs").string() + ": zlib: "));
  r = run("rule-set match -f yaml '" + (dir_ / "junk.srs").string() + "' a.example");
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.err, "error: unknown rule-set format: yaml\n");
  r = run("rule-set decompile '" + (dir_ / "missing.srs").string() + "'");
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.err, "error: " + (dir_ / "missing.srs").string() + ": cannot read file\n");
}

TEST_F(Cli, RuleSetMatchPrintsTheRulesThatMatch) {
  spit(dir_ / "set.json", kRuleSource);
  const std::string set = "'" + (dir_ / "set.json").string() + "'";
  // As sing-box: one line per matching rule, on stderr, exit 0 either way.
  Outcome r = run("rule-set match " + set + " a.sub.example");
  EXPECT_EQ(r.rc, 0);
  EXPECT_EQ(r.out, "");
  // The logical rule: no network here, so {"network": "udp"} does not hold,
  // nor does the keyword; "or" of neither, inverted: a match.
  EXPECT_EQ(r.err,
            "match rules.[0]: domain=exact.example domain_suffix=[.sub.example suffix.example]\n"
            "match rules.[2]: !(network=udp || domain_keyword=kw)\n");
  r = run("rule-set match " + set + " sub.example");
  EXPECT_EQ(r.err, "match rules.[2]: !(network=udp || domain_keyword=kw)\n");
  r = run("rule-set match " + set + " 10.200.0.1");
  EXPECT_EQ(r.err, "match rules.[1]: ip_cidr=[10.128.0.0/9 10.0.0.0/9 2001:db8::1]\n"
                   "match rules.[2]: !(network=udp || domain_keyword=kw)\n");
  r = run("rule-set match " + set + " kw.example");
  EXPECT_EQ(r.rc, 0);
  EXPECT_EQ(r.err, "");
  // The compiled set: domain and IP items print as <binary>.
  ASSERT_EQ(run("rule-set compile " + set).rc, 0);
  r = run("rule-set match -f binary '" + (dir_ / "set.srs").string() + "' 2001:db8::1");
  EXPECT_EQ(r.rc, 0);
  EXPECT_EQ(r.err, "match rules.[1]: ip_cidr=<binary>\n"
                   "match rules.[2]: !(network=udp || domain_keyword=kw)\n");
  // Nor a source address: source_ip_cidr holds for nothing.
  spit(dir_ / "source.json", R"({"version": 2, "rules": [{"source_ip_cidr": "0.0.0.0/0"},
    {"source_ip_cidr": ["0.0.0.0/0", "::/0"], "invert": true}]})");
  r = run("rule-set match '" + (dir_ / "source.json").string() + "' 1.2.3.4");
  EXPECT_EQ(r.err, "match rules.[1]: !(source_ip_cidr=[0.0.0.0/0 ::/0])\n");
  r = run("rule-set match --format binary '" + (dir_ / "set.srs").string() + "' x.suffix.example");
  EXPECT_EQ(r.err, "match rules.[0]: domain/domain_suffix=<binary>\n"
                   "match rules.[2]: !(network=udp || domain_keyword=kw)\n");
}

TEST_F(Cli, RuleSetFormatAndUpgrade) {
  const std::string messy = R"({"rules": [{"invert": true, "domain": ["a.example"]}], /* c */ "version": 1})";
  const std::string tidy = "{\n  \"version\": 1,\n  \"rules\": [\n    {\n      \"domain\": \"a.example\",\n"
                           "      \"invert\": true\n    }\n  ]\n}\n";
  spit(dir_ / "f.json", messy);
  Outcome r = run("rule-set format '" + (dir_ / "f.json").string() + "'");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, tidy + "\n");  // sing-box prints one newline more
  EXPECT_EQ(slurp(dir_ / "f.json"), messy);
  r = run("rule-set format -w '" + (dir_ / "f.json").string() + "'");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, fs::absolute(dir_ / "f.json").string() + "\n");
  EXPECT_EQ(slurp(dir_ / "f.json"), tidy);
  r = run("rule-set format -w '" + (dir_ / "f.json").string() + "'");
  EXPECT_EQ(r.out + r.err, "");  // already formatted: not written
  // upgrade: version 1 becomes the newest we read (3), the rules unchanged.
  r = run("rule-set upgrade '" + (dir_ / "f.json").string() + "'");
  ASSERT_EQ(r.rc, 0) << r.err;
  std::string upgraded = tidy;
  upgraded.replace(upgraded.find("\"version\": 1"), 12, "\"version\": 3");
  EXPECT_EQ(r.out, upgraded + "\n");
  ASSERT_EQ(run("rule-set upgrade -w '" + (dir_ / "f.json").string() + "'").rc, 0);
  EXPECT_EQ(slurp(dir_ / "f.json"), upgraded);
  r = run("rule-set upgrade '" + (dir_ / "f.json").string() + "'");
  EXPECT_EQ(r.rc, 0);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "already up-to-date\n");
  spit(dir_ / "bad.json", R"({"version": 2, "rules": [{"domian": "a"}]})");
  r = run("rule-set format '" + (dir_ / "bad.json").string() + "'");
  EXPECT_EQ(r.rc, 1);
  EXPECT_THAT(r.err, HasSubstr("rules[0].domian"));
}

TEST_F(Cli, RuleSetMerge) {
  fs::create_directories(dir_ / "d");
  spit(dir_ / "d" / "b.json", R"({"version": 1, "rules": [{"domain": "b.example"}]})");
  spit(dir_ / "d" / "skip.txt", "not json");
  spit(dir_ / "a.json", R"({"version": 2, "rules": [{"domain": "a.example"}]})");
  const fs::path out = dir_ / "out" / "merged.json";
  Outcome r = run("rule-set merge '" + out.string() + "' -C '" + (dir_ / "d").string() + "' -c '" +
                  (dir_ / "a.json").string() + "'");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.err, fs::absolute(out).string() + "\n");
  // Sorted by path (a.json before d/b.json), rules appended, the highest version.
  EXPECT_EQ(slurp(out), "{\n  \"version\": 2,\n  \"rules\": [\n    {\n      \"domain\": \"a.example\"\n    },\n"
                        "    {\n      \"domain\": \"b.example\"\n    }\n  ]\n}\n");
  r = run("rule-set merge '" + out.string() + "'");
  EXPECT_EQ(r.rc, 1);
  EXPECT_THAT(r.err, HasSubstr("no input"));
}

TEST_F(Cli, MergeInlinesTlsFiles) {
  ASSERT_EQ(run("generate tls-keypair merge.test --out-dir '" + dir_.string() + "' --file-name k").rc, 0);
  fs::create_directories(dir_ / "conf");
  spit(dir_ / "conf" / "1-in.json", R"({"inbounds": [{"type": "anytls", "tag": "in", "listen": "127.0.0.1",
    "listen_port": 8443, "users": [{"name": "u", "password": "p"}],
    "tls": {"enabled": true, "certificate_path": "k.crt", "key_path": "k.key"}}]})");
  spit(dir_ / "main.json", R"({"log": {"level": "warn"}, "outbounds": [{"type": "direct", "tag": "d"}]})");
  // Relative paths are the -D directory's, as for run.
  Outcome r = run("merge out.json -D '" + dir_.string() + "' -c main.json -C conf");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.err, fs::absolute(dir_ / "out.json").string() + "\n");
  const std::string merged = slurp(dir_ / "out.json");
  EXPECT_THAT(merged, HasSubstr("\"level\": \"warn\""));
  // The files' first lines, inline (read from the files: no key text in the source).
  auto first_line = [](const fs::path& p) {
    std::string text = slurp(p);
    return text.substr(0, text.find('\n'));
  };
  EXPECT_THAT(merged, HasSubstr("\"certificate\": [\n          \"" + first_line(dir_ / "k.crt") + "\""));
  EXPECT_THAT(merged, HasSubstr("\"key\": [\n          \"" + first_line(dir_ / "k.key") + "\""));
  EXPECT_THAT(merged, Not(HasSubstr("_path")));
  // The result stands alone: it loads from anywhere, without the files.
  fs::remove(dir_ / "k.crt");
  fs::remove(dir_ / "k.key");
  r = run("check -c '" + (dir_ / "out.json").string() + "'");
  EXPECT_EQ(r.rc, 0) << r.err;
  // Only a valid configuration is merged.
  spit(dir_ / "bad.json", R"({"outbounds": [{"type": "direct", "tag": "d", "bogus": 1}]})");
  r = run("merge '" + (dir_ / "never.json").string() + "' -c '" + (dir_ / "bad.json").string() + "'");
  EXPECT_EQ(r.rc, 1);
  EXPECT_THAT(r.err, HasSubstr("outbounds[0].bogus"));
  EXPECT_FALSE(fs::exists(dir_ / "never.json"));
}

}  // namespace
