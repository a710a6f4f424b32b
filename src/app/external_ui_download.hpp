// experimental.clash_api.external_ui_download_url: when the external_ui
// directory is missing or empty, the dashboard's zip is downloaded through
// the detour outbound and unpacked into it, as sing-box does
// (experimental/clashapi/server_resources.go): an archive whose entries all
// sit in one top folder is unpacked from inside that folder.
//
// A peer controls the archive, so: the download and the unpacked total are
// capped, as is the number of entries; an entry that is absolute, has a
// ".." component, or is a symbolic link refuses the whole archive; files are
// created fresh (O_EXCL | O_NOFOLLOW) in a temporary directory next to
// external_ui, which is renamed into place only once everything is written.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include <asio/awaitable.hpp>

#include "config/options.hpp"
#include "outbound/outbound.hpp"

namespace anytls::app {

struct DashboardLimits {
  std::size_t download = std::size_t{64} << 20;   // the zip
  std::uint64_t unpacked = std::uint64_t{256} << 20;  // every file's size, summed
  std::size_t entries = 20000;
};

// Whether `dir` needs the download: missing, or an empty directory.
bool external_ui_missing(const std::string& dir);

// Unpacks `zip` into `dir` (which must be missing or empty); "" when done,
// else why not (nothing is left behind: neither in dir nor beside it).
std::string unpack_dashboard_zip(const std::string& zip, const std::string& dir, const DashboardLimits& limits);

// The download and unpacking, when external_ui_missing(); "" when done or
// not needed, else the error (the caller logs it).
asio::awaitable<std::string> download_external_ui(outbound::Outbound& via, config::ClashApiOptions options,
                                                  DashboardLimits limits);

}  // namespace anytls::app
