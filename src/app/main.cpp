#include <csignal>

#include "app/cli.hpp"
#include "net/heap_trim.hpp"

int main(int argc, char** argv) {
  // TLS connections write through OpenSSL's socket BIO (plain write(2)): a
  // peer that has gone away must give EPIPE, not kill the process.
  std::signal(SIGPIPE, SIG_IGN);
  anytls::net::HeapTrim::tune_allocator();
  return anytls::app::cli_main(argc, argv);
}
