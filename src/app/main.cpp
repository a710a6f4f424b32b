#include <csignal>

#include "app/cli.hpp"

int main(int argc, char** argv) {
  // TLS connections write through OpenSSL's socket BIO (plain write(2)): a
  // peer that has gone away must give EPIPE, not kill the process.
  std::signal(SIGPIPE, SIG_IGN);
  return anytls::app::cli_main(argc, argv);
}
