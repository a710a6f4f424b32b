#include "app/cli.hpp"

#include <fcntl.h>
#include <sys/stat.h>
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
#include "app/generate.hpp"
#include "app/logging.hpp"
#include "config/load.hpp"

#ifndef ANYTLS_VERSION
#define ANYTLS_VERSION "unknown"
#endif

namespace anytls::app {
namespace {

namespace fs = std::filesystem;

struct ConfigArgs {
  std::vector<std::string> files;
  std::string directory;  // -C
  std::string workdir;    // -D
};

void add_config_args(CLI::App* cmd, ConfigArgs& args) {
  cmd->add_option("-c,--config", args.files, "Configuration file (repeatable; files merge in order)");
  cmd->add_option("-C,--config-directory", args.directory, "Also load every *.json in this directory, by name");
  cmd->add_option("-D,--directory", args.workdir, "Change to this working directory first");
}

int config_error(const std::string& message) {
  std::cerr << "error: " << message << "\n";
  return kExitConfig;
}

// The files to read, after applying -D. Throws config::ConfigError.
std::vector<fs::path> config_files(const ConfigArgs& args) {
  if (!args.workdir.empty()) {
    std::error_code ec;
    fs::current_path(args.workdir, ec);
    if (ec) throw config::ConfigError(args.workdir, "cannot change directory: " + ec.message());
  }
  std::vector<fs::path> files(args.files.begin(), args.files.end());
  if (!args.directory.empty()) {
    auto more = config::list_config_dir(args.directory);
    files.insert(files.end(), more.begin(), more.end());
  }
  if (files.empty() && args.directory.empty()) files.push_back("config.json");
  if (files.empty()) throw config::ConfigError(args.directory, "no *.json files in directory");
  return files;
}

int cmd_run(const ConfigArgs& args) {
  config::Options options;
  try {
    options = config::load_files(config_files(args));
  } catch (const config::ConfigError& e) {
    return config_error(e.what());
  }
  try {
    setup_logging(options.log);
  } catch (const std::exception& e) {
    return config_error("log.output: " + std::string(e.what()));
  }
  try {
    return run_box(options);
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return kExitRuntime;
  }
}

int cmd_check(const ConfigArgs& args) {
  try {
    (void)config::load_files(config_files(args));
  } catch (const config::ConfigError& e) {
    return config_error(e.what());
  }
  return kExitOk;
}

int cmd_format(const ConfigArgs& args, bool write) {
  try {
    std::vector<config::ConfigSource> sources;
    for (const auto& f : config_files(args)) sources.push_back(config::read_source(f));
    (void)config::load(sources);  // only valid configs are formatted
    for (const auto& src : sources) {
      std::string formatted = config::format_json(src);
      if (!write) {
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

int cmd_version() {
  std::cout << "anytls-cpp " << ANYTLS_VERSION << "\n" << OpenSSL_version(OPENSSL_VERSION) << "\n";
  return kExitOk;
}

// Writes data to path with the given mode, replacing any previous file.
bool write_file(const fs::path& path, const std::string& data, mode_t mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return false;
  bool ok = ::fchmod(fd, mode) == 0;
  std::size_t done = 0;
  while (ok && done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) ok = false;
    else done += static_cast<std::size_t>(n);
  }
  return ::close(fd) == 0 && ok;
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
  std::error_code ec;
  fs::create_directories(out_dir, ec);
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

}  // namespace

int cli_main(int argc, char** argv) {
  CLI::App app{"anytls-cpp: an AnyTLS proxy (client and server) configured like sing-box", "anytls"};
  app.require_subcommand(1);

  ConfigArgs run_args, check_args, format_args;
  auto* run = app.add_subcommand("run", "Run the proxy");
  add_config_args(run, run_args);
  auto* check = app.add_subcommand("check", "Check the configuration");
  add_config_args(check, check_args);
  auto* format = app.add_subcommand("format", "Print the configuration normalised (comments dropped, 2-space indent)");
  add_config_args(format, format_args);
  bool write = false;
  format->add_flag("-w,--write", write, "Write the result back to the source files");
  auto* version = app.add_subcommand("version", "Print the version");

  auto* generate = app.add_subcommand("generate", "Generate things");
  generate->require_subcommand(1);
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

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // "anytls foo": CLI11 would only say that a subcommand is required.
    const std::string first = argc > 1 ? argv[1] : "";
    if (!first.empty() && first[0] != '-' && first != "run" && first != "check" && first != "format" &&
        first != "version" && first != "generate") {
      std::cerr << "error: unknown command \"" << argv[1] << "\" (run check format version generate)\n";
      return kExitConfig;
    }
    int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitConfig;
  }

  if (*run) return cmd_run(run_args);
  if (*check) return cmd_check(check_args);
  if (*format) return cmd_format(format_args, write);
  if (*version) return cmd_version();
  if (*keypair) return cmd_tls_keypair(kp_name, kp_months, kp_out_dir, kp_file_name);
  if (*rand) return cmd_rand(rand_n, rand_base64, rand_hex);
  return kExitConfig;
}

}  // namespace anytls::app
