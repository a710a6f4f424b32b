#include "app/cli.hpp"

int main(int argc, char** argv) { return anytls::app::cli_main(argc, argv); }
