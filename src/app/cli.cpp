#include "app/cli.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <openssl/crypto.h>
#include <spdlog/spdlog.h>

#include "app/box.hpp"
#include "app/file_commands.hpp"
#include "app/generate.hpp"
#include "app/logging.hpp"
#include "app/preflight.hpp"
#include "app/share_link.hpp"
#include "app/go_time.hpp"
#include "app/tools.hpp"
#include "config/load.hpp"

#ifndef ANYTLS_VERSION
#define ANYTLS_VERSION "unknown"
#endif

namespace anytls::app {
namespace {

namespace fs = std::filesystem;

struct ConfigArgs {
  std::vector<std::string> files;  // -c; "stdin" reads standard input
  std::vector<std::string> directories;  // -C
  std::string workdir;             // -D
  bool disable_color = false;
  std::size_t workers = 0;         // run --workers; 0 = one per CPU
};

int config_error(const std::string& message) {
  std::cerr << "error: " << message << "\n";
  return kExitConfig;
}

// -D: created if missing (as sing-box does), then made the working
// directory. Throws config::ConfigError.
void enter_workdir(const ConfigArgs& args) {
  if (args.workdir.empty()) return;
  std::error_code ec;
  fs::create_directories(args.workdir, ec);
  if (ec) throw config::ConfigError(args.workdir, "cannot create directory: " + ec.message());
  fs::current_path(args.workdir, ec);
  if (ec) throw config::ConfigError(args.workdir, "cannot change directory: " + ec.message());
}

// Standard input is read once: a SIGHUP reload of `-c stdin` reuses it.
const config::ConfigSource& stdin_source() {
  static const config::ConfigSource source = [] {
    std::ostringstream ss;
    ss << std::cin.rdbuf();
    return config::ConfigSource{"stdin", ss.str()};
  }();
  return source;
}

// The documents to load (after -D). Throws config::ConfigError.
std::vector<config::ConfigSource> config_sources(const ConfigArgs& args) {
  std::vector<config::ConfigSource> sources;
  for (const auto& f : args.files) {
    if (f == "stdin") sources.push_back(stdin_source());
    else sources.push_back(config::read_source(f));
  }
  bool listed = false;
  for (const auto& dir : args.directories) {
    for (const auto& f : config::list_config_dir(dir)) {
      sources.push_back(config::read_source(f));
      listed = true;
    }
  }
  if (args.files.empty() && args.directories.empty()) sources.push_back(config::read_source("config.json"));
  if (sources.empty() && !listed) throw config::ConfigError(args.directories.front(), "no *.json files in directory");
  return sources;
}

// Everything `check` does: read, decode, then build without listening.
config::Options load_checked(const ConfigArgs& args) {
  config::Options options = config::load(config_sources(args));
  preflight(options);
  return options;
}

// The configuration of `tools`: as sing-box, a missing default config.json
// is an empty configuration (the direct outbound).
bool load_for_tools(const ConfigArgs& args, config::Options& options) {
  try {
    enter_workdir(args);
    if (args.files.empty() && args.directories.empty() && !fs::exists("config.json"))
      options = config::load_string("{}");
    else
      options = load_checked(args);
  } catch (const config::ConfigError& e) {
    config_error(e.what());
    return false;
  }
  return true;
}

int cmd_run(const ConfigArgs& args) {
  config::Options options;
  try {
    enter_workdir(args);
    options = load_checked(args);
  } catch (const config::ConfigError& e) {
    return config_error(e.what());
  }
  const LogSetup log_setup{.disable_color = args.disable_color};
  try {
    setup_logging(options.log, log_setup);
  } catch (const std::exception& e) {
    return config_error("log.output: " + std::string(e.what()));
  }
  for (const auto& w : options.warnings) spdlog::warn("{}", w);
  // SIGHUP: the same files again (relative to the -D directory we are in);
  // new log options apply at once, and a log file is reopened (logrotate).
  config::LogOptions current_log = options.log;
  ConfigReader read = [args, log_setup, current_log]() mutable {
    config::Options next = load_checked(args);
    if (!(next.log == current_log) || !next.log.output.empty()) {
      try {
        setup_logging(next.log, log_setup);
      } catch (const std::exception& e) {
        throw config::ConfigError("log.output", e.what());
      }
      current_log = next.log;
    }
    return next;
  };
  try {
    return run_box(options, std::move(read), args.workers);
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return kExitRuntime;
  }
}

int cmd_check(const ConfigArgs& args) {
  try {
    enter_workdir(args);
    config::Options options = load_checked(args);
    for (const auto& w : options.warnings) std::cerr << "warning: " << w << "\n";
  } catch (const config::ConfigError& e) {
    return config_error(e.what());
  }
  return kExitOk;
}

int cmd_format(const ConfigArgs& args, bool write) {
  try {
    enter_workdir(args);
    std::vector<config::ConfigSource> sources = config_sources(args);
    (void)config::load(sources);  // only valid configs are formatted
    for (const auto& src : sources) {
      std::string formatted = config::format_json(src);
      if (!write || src.name == "stdin") {
        std::cout << formatted;
        continue;
      }
      if (formatted == src.text) continue;
      std::ofstream out(src.name, std::ios::binary | std::ios::trunc);
      out << formatted;
      out.close();
      if (!out) {
        std::cerr << "error: " << src.name << ": cannot write file\n";
        return kExitRuntime;
      }
      std::cerr << src.name << "\n";
    }
  } catch (const config::ConfigError& e) {
    return config_error(e.what());
  }
  return kExitOk;
}

std::string compiler_text() {
#if defined(__clang__)
  return "clang " __clang_version__;
#elif defined(__GNUC__)
  return "GCC " __VERSION__;
#else
  return "unknown compiler";
#endif
}

std::string platform_text() {
  struct utsname u {};
  if (::uname(&u) != 0) return "unknown";
  std::string os = u.sysname;
  for (char& c : os) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string arch = u.machine;
  if (arch == "x86_64") arch = "amd64";
  else if (arch == "aarch64") arch = "arm64";
  return os + "/" + arch;
}

int cmd_version(bool name_only) {
  if (name_only) {
    std::cout << ANYTLS_VERSION << "\n";
    return kExitOk;
  }
  // sing-box's layout, plus the TLS library we run on.
  std::cout << "anytls-cpp version " << ANYTLS_VERSION << "\n\n"
            << "Environment: " << compiler_text() << " " << platform_text() << "\n"
            << "TLS: " << OpenSSL_version(OPENSSL_VERSION) << "\n";
  return kExitOk;
}

// Writes data to path with the given mode, replacing any previous file
// atomically and never through a link: the bytes go to a new file created
// exclusively (O_EXCL | O_NOFOLLOW) in the same directory, which is then
// renamed over path (rename replaces a symlink at path, it does not follow
// it). A key never lands in a file someone else prepared.
bool write_file(const fs::path& path, const std::string& data, mode_t mode) {
  fs::path tmp = path;
  tmp += ".tmp-" + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) return false;
  bool ok = ::fchmod(fd, mode) == 0;
  std::size_t done = 0;
  while (ok && done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) ok = false;
    else done += static_cast<std::size_t>(n);
  }
  ok = ::fsync(fd) == 0 && ok;
  ok = ::close(fd) == 0 && ok;
  if (ok) ok = ::rename(tmp.c_str(), path.c_str()) == 0;
  if (!ok) {
    int saved = errno;
    ::unlink(tmp.c_str());
    errno = saved;
  }
  return ok;
}

int cmd_tls_keypair(const std::string& name, int months, const std::string& out_dir, std::string file_name) {
  KeyPair kp;
  try {
    kp = generate_tls_keypair(name, months);
  } catch (const std::exception& e) {
    std::cerr << "error: generate tls-keypair: " << e.what() << "\n";
    return kExitRuntime;
  }
  if (out_dir.empty()) {
    std::cout << kp.certificate_pem << kp.private_key_pem;
    return kExitOk;
  }
  // A new directory is private (0700), whatever the umask: it holds a key.
  std::error_code ec;
  if (!fs::exists(out_dir, ec)) {
    fs::create_directories(out_dir, ec);
    if (!ec) fs::permissions(out_dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  }
  if (file_name.empty()) file_name = name;
  fs::path crt = fs::path(out_dir) / (file_name + ".crt");
  fs::path key = fs::path(out_dir) / (file_name + ".key");
  if (ec || !write_file(crt, kp.certificate_pem, 0644) || !write_file(key, kp.private_key_pem, 0600)) {
    std::cerr << "error: " << out_dir << ": cannot write files: " << std::strerror(errno) << "\n";
    return kExitRuntime;
  }
  std::cerr << "wrote " << crt.string() << " and " << key.string() << "\n";
  return kExitOk;
}

int cmd_rand(std::size_t n, bool base64, bool hex) {
  std::vector<unsigned char> bytes;
  try {
    bytes = random_bytes(n);
  } catch (const std::exception& e) {
    std::cerr << "error: generate rand: " << e.what() << "\n";
    return kExitRuntime;
  }
  if (base64) std::cout << to_base64(bytes) << "\n";
  else if (hex) std::cout << to_hex(bytes) << "\n";
  else std::cout.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  std::cout.flush();
  return kExitOk;
}

int cmd_uuid() {
  try {
    std::cout << uuid_v4() << "\n";
  } catch (const std::exception& e) {
    std::cerr << "error: generate uuid: " << e.what() << "\n";
    return kExitRuntime;
  }
  return kExitOk;
}

// wg-keypair, reality-keypair, vapid-keypair: sing-box's output, two lines.
enum class RawKeys { wireguard, reality, vapid };

int cmd_raw_keypair(RawKeys kind) {
  const char* name = kind == RawKeys::wireguard ? "wg-keypair" : kind == RawKeys::reality ? "reality-keypair" : "vapid-keypair";
  RawKeyPair kp;
  try {
    kp = kind == RawKeys::vapid ? generate_p256_raw_keypair() : generate_x25519_keypair();
  } catch (const std::exception& e) {
    std::cerr << "error: generate " << name << ": " << e.what() << "\n";
    return kExitRuntime;
  }
  auto encode = kind == RawKeys::wireguard ? to_base64 : to_base64_raw_url;
  std::cout << "PrivateKey: " << encode(kp.private_key) << "\nPublicKey: " << encode(kp.public_key) << "\n";
  return kExitOk;
}

int cmd_link(const ConfigArgs& args, const LinkRequest& request) {
  try {
    enter_workdir(args);
    config::Options options = load_checked(args);
    for (const auto& link : share_links(options, request)) std::cout << link << "\n";
  } catch (const config::ConfigError& e) {
    return config_error(e.what());
  }
  return kExitOk;
}

// The first word that is not an option or an option's value: the command.
std::string first_command(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-c" || a == "--config" || a == "-C" || a == "--config-directory" || a == "-D" || a == "--directory") {
      ++i;
      continue;
    }
    if (!a.empty() && a[0] == '-') continue;
    return a;
  }
  return {};
}

}  // namespace

int cli_main(int argc, char** argv) {
  CLI::App app{"anytls-cpp: an AnyTLS proxy (client and server) configured like sing-box", "anytls"};
  app.require_subcommand(0, 1);
  // Global options, accepted before or after the command as sing-box does.
  ConfigArgs args;
  app.add_option("-c,--config", args.files, "Configuration file (repeatable, merged in order; \"stdin\" reads standard input)");
  app.add_option("-C,--config-directory", args.directories, "Also load every *.json in this directory, by name (repeatable)");
  app.add_option("-D,--directory", args.workdir, "Working directory (created if missing)");
  app.add_flag("--disable-color", args.disable_color, "Do not colour the log");
  bool show_version = false;
  app.add_flag("-v,--version", show_version, "Print the version");
  app.fallthrough();

  auto* run = app.add_subcommand("run", "Run the proxy");
  run->add_option("--workers", args.workers,
                  "Worker threads, each with its own event loop (default: one per CPU)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1024}));
  auto* check = app.add_subcommand("check", "Check the configuration (builds everything run builds, without listening)");
  auto* format = app.add_subcommand("format", "Print the configuration normalised (comments dropped, 2-space indent)");
  bool write = false;
  format->add_flag("-w,--write", write, "Write the result back to the source files");
  auto* version = app.add_subcommand("version", "Print the version");
  bool version_name_only = false;
  version->add_flag("-n,--name", version_name_only, "Print the version number only");
  auto* generate = app.add_subcommand("generate", "Generate things");
  generate->require_subcommand(1);
  generate->fallthrough();
  auto* keypair = generate->add_subcommand("tls-keypair", "Generate a self-signed certificate and EC P-256 key");
  std::string kp_name, kp_out_dir, kp_file_name;
  int kp_months = 12;
  keypair->add_option("name", kp_name, "Server name (DNS name or IP) for the CN and subjectAltName")->required();
  keypair->add_option("-m,--months", kp_months, "Validity in months")
      ->capture_default_str()
      ->check(CLI::Range(1, 1200));
  keypair->add_option("-o,--out-dir", kp_out_dir, "Write NAME.crt and NAME.key (mode 0600) here instead of stdout");
  keypair->add_option("--file-name", kp_file_name, "With --out-dir: use this instead of NAME for the file names");
  auto* rand = generate->add_subcommand("rand", "Generate random bytes (raw to stdout unless --base64/--hex)");
  std::size_t rand_n = 0;
  bool rand_base64 = false, rand_hex = false;
  rand->add_option("length", rand_n, "Number of bytes")->required()->check(CLI::Range(std::size_t{1}, std::size_t{1} << 20));
  auto* b64 = rand->add_flag("--base64", rand_base64, "Print as base64");
  auto* hexf = rand->add_flag("--hex", rand_hex, "Print as hex");
  b64->excludes(hexf);
  auto* uuid = generate->add_subcommand("uuid", "Generate a random UUID (version 4)");
  auto* wg_keypair = generate->add_subcommand("wg-keypair", "Generate WireGuard key pair");
  auto* reality_keypair = generate->add_subcommand("reality-keypair", "Generate reality key pair");
  auto* vapid_keypair = generate->add_subcommand("vapid-keypair", "Generate VAPID key pair");
  // sing-box's ECH key pair is an ECHConfigList for servers that speak ECH;
  // OpenSSL 3.0 has no ECH, so neither end of ours could use it.
  auto* ech_keypair = generate->add_subcommand("ech-keypair", "Not supported: this build's TLS has no ECH");
  std::string ech_server_name;
  ech_keypair->add_option("server_name", ech_server_name, "Server name (sing-box's argument)");
  auto* link = generate->add_subcommand("link", "Print the anytls:// share link of an outbound or of inbound users");
  LinkRequest link_req;
  link->add_option("tag", link_req.tag, "Tag of an anytls outbound or inbound (default: the only one)");
  link->add_option("-u,--user", link_req.user, "Inbound: only this user (by name)");
  link->add_option("-s,--server", link_req.server, "Inbound: the address clients connect to (default: tls.server_name)");
  auto* tools = app.add_subcommand("tools", "Experimental tools");
  tools->require_subcommand(1);
  tools->fallthrough();
  std::string tools_outbound;
  tools->add_option("-o,--outbound", tools_outbound, "Use specified tag instead of default outbound");
  auto* fetch = tools->add_subcommand("fetch", "Fetch an URL");
  fetch->fallthrough();
  std::vector<std::string> fetch_urls;
  fetch->add_option("url", fetch_urls, "URL (http:// or https://)")->required();
  auto* connect = tools->add_subcommand("connect", "Connect to an address");
  connect->fallthrough();
  std::string connect_address, connect_network = "tcp";
  connect->add_option("address", connect_address, "HOST:PORT")->required();
  connect->add_option("-n,--network", connect_network, "network type")->capture_default_str();
  auto* synctime = tools->add_subcommand("synctime", "Sync time using the NTP protocol");
  synctime->fallthrough();
  std::string sync_server = "time.apple.com", sync_format(kGoTimeLayout);
  bool sync_write = false;
  synctime->add_option("-s,--server", sync_server, "Set NTP server")->capture_default_str();
  synctime->add_option("-f,--format", sync_format, "Set output format")->capture_default_str();
  synctime->add_flag("-w,--write", sync_write, "Write time to system");
  auto file_command = add_file_commands(app, {[&args] { enter_workdir(args); }, [&args] { return config_sources(args); }});

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // "anytls foo": CLI11 would only say that it did not expect "foo".
    const std::string first = first_command(argc, argv);
    if (first == "help") {  // cobra's `sing-box help`
      std::cout << app.help();
      return kExitOk;
    }
    if (!first.empty() && first != "run" && first != "check" && first != "format" && first != "version" &&
        first != "generate" && first != "rule-set" && first != "merge" && first != "tools") {
      std::cerr << "error: unknown command \"" << first
                << "\" for \"anytls\" (run check format version generate rule-set merge tools)\n";
      return kExitConfig;
    }
    int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitConfig;
  }

  if (show_version && !*version) return cmd_version(false);
  if (*run) return cmd_run(args);
  if (*check) return cmd_check(args);
  if (*format) return cmd_format(args, write);
  if (*version) return cmd_version(version_name_only);
  if (*keypair) return cmd_tls_keypair(kp_name, kp_months, kp_out_dir, kp_file_name);
  if (*rand) return cmd_rand(rand_n, rand_base64, rand_hex);
  if (*uuid) return cmd_uuid();
  if (*wg_keypair) return cmd_raw_keypair(RawKeys::wireguard);
  if (*reality_keypair) return cmd_raw_keypair(RawKeys::reality);
  if (*vapid_keypair) return cmd_raw_keypair(RawKeys::vapid);
  if (*ech_keypair) {
    std::cerr << "error: generate ech-keypair: not supported: Encrypted Client Hello needs a TLS library with ECH "
                 "(OpenSSL 3.0 has none), so no inbound or outbound here could use the key\n";
    return kExitConfig;
  }
  if (*link) return cmd_link(args, link_req);
  if (*synctime && sync_write) {
    // Setting the clock needs CAP_SYS_TIME and would fight the system's own
    // NTP client; the time is printed for the user to set if they wish.
    std::cerr << "error: synctime --write: not supported: keep the system clock with the system's NTP client "
                 "(systemd-timesyncd, chrony), or set it by hand from what synctime prints\n";
    return kExitConfig;
  }
  if (*fetch || *connect || *synctime) {
    config::Options options;
    if (!load_for_tools(args, options)) return kExitConfig;
    if (*fetch) return tools_fetch(options, tools_outbound, fetch_urls);
    if (*connect) return tools_connect(options, tools_outbound, connect_address, connect_network);
    return tools_synctime(options, tools_outbound, sync_server, sync_format);
  }
  if (auto rc = file_command()) return *rc;
  std::cerr << "error: a command is required (run check format version generate rule-set merge tools); see anytls --help\n";
  return kExitConfig;
}

}  // namespace anytls::app
