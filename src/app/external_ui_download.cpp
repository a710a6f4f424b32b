#include "app/external_ui_download.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <vector>

#include <zip.h>

#include "outbound/http_get.hpp"

namespace anytls::app {

namespace fs = std::filesystem;

namespace {

struct ZipCloser {
  void operator()(zip_t* z) const { zip_discard(z); }
};
struct ZipFileCloser {
  void operator()(zip_file_t* f) const { zip_fclose(f); }
};

// Why an entry's name cannot be unpacked, empty when it can: it must be a
// relative path of plain components ('/' separated, no "..", no '\').
std::string bad_name(const std::string& name) {
  if (name.empty()) return "an entry without a name";
  if (name.front() == '/') return "absolute path " + name;
  if (name.find('\\') != std::string::npos) return "backslash in " + name;
  std::size_t start = 0;
  while (start <= name.size()) {
    std::size_t end = name.find('/', start);
    if (end == std::string::npos) end = name.size();
    if (name.compare(start, end - start, "..") == 0 && end - start == 2) return "\"..\" in " + name;
    start = end + 1;
  }
  return {};
}

struct Entry {
  zip_uint64_t index;
  std::string name;  // as in the archive
};

// The one top folder every entry sits in ("dist/"), or "" when there is
// none (sing-box unpacks such an archive from inside its folder).
std::string common_top(const std::vector<Entry>& entries) {
  std::string top;
  for (const auto& e : entries) {
    auto slash = e.name.find('/');
    if (slash == std::string::npos) return {};  // a file at the top
    std::string first = e.name.substr(0, slash + 1);
    if (top.empty()) top = first;
    else if (first != top) return {};
  }
  return top;
}

std::string write_entry(zip_t* z, const Entry& e, const fs::path& to, std::uint64_t& total, std::uint64_t limit) {
  std::error_code ec;
  fs::create_directories(to.parent_path(), ec);
  if (ec) return e.name + ": " + ec.message();
  std::unique_ptr<zip_file_t, ZipFileCloser> in(zip_fopen_index(z, e.index, 0));
  if (!in) return e.name + ": " + zip_strerror(z);
  int fd = ::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) return e.name + ": " + std::strerror(errno);
  char buf[16384];
  std::string err;
  for (;;) {
    zip_int64_t n = zip_fread(in.get(), buf, sizeof buf);
    if (n < 0) {
      err = e.name + ": " + zip_file_strerror(in.get());
      break;
    }
    if (n == 0) break;
    // The sizes the archive declares were checked; what inflates counts too.
    total += static_cast<std::uint64_t>(n);
    if (total > limit) {
      err = "unpacks to more than " + std::to_string(limit) + " bytes";
      break;
    }
    for (zip_int64_t done = 0; done < n && err.empty();) {
      ssize_t w = ::write(fd, buf + done, static_cast<std::size_t>(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) err = e.name + ": " + std::strerror(errno);
      else done += w;
    }
    if (!err.empty()) break;
  }
  if (::close(fd) != 0 && err.empty()) err = e.name + ": " + std::strerror(errno);
  return err;
}

// Every entry of z written under tmp; "" or why not.
std::string unpack_into(zip_t* z, const fs::path& tmp, const DashboardLimits& limits) {
  const zip_int64_t n = zip_get_num_entries(z, 0);
  if (n < 0) return "cannot read the archive's entries";
  if (static_cast<std::uint64_t>(n) > limits.entries)
    return "more than " + std::to_string(limits.entries) + " entries";
  std::vector<Entry> entries;
  std::uint64_t declared = 0;
  for (zip_int64_t i = 0; i < n; ++i) {
    zip_stat_t st;
    if (zip_stat_index(z, static_cast<zip_uint64_t>(i), 0, &st) != 0 || !(st.valid & ZIP_STAT_NAME))
      return "entry " + std::to_string(i) + ": " + zip_strerror(z);
    std::string name = st.name;
    if (auto why = bad_name(name); !why.empty()) return "refused: " + why;
    zip_uint8_t opsys = 0;
    zip_uint32_t attr = 0;
    if (zip_file_get_external_attributes(z, static_cast<zip_uint64_t>(i), 0, &opsys, &attr) == 0 &&
        opsys == ZIP_OPSYS_UNIX && S_ISLNK(attr >> 16))
      return "refused: symbolic link " + name;
    if (st.valid & ZIP_STAT_SIZE) declared += st.size;
    if (declared > limits.unpacked) return "unpacks to more than " + std::to_string(limits.unpacked) + " bytes";
    entries.push_back(Entry{static_cast<zip_uint64_t>(i), std::move(name)});
  }
  const std::string top = common_top(entries);
  std::uint64_t total = 0;
  for (const auto& e : entries) {
    std::string rel = e.name.substr(top.size());
    if (rel.empty()) continue;  // the top folder itself
    const fs::path to = tmp / rel;
    if (rel.back() == '/') {
      std::error_code ec;
      fs::create_directories(to, ec);
      if (ec) return e.name + ": " + ec.message();
      continue;
    }
    if (auto err = write_entry(z, e, to, total, limits.unpacked); !err.empty()) return err;
  }
  return {};
}

}  // namespace

bool external_ui_missing(const std::string& dir) {
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(dir, ec))) return true;
  return fs::is_directory(dir, ec) && fs::is_empty(dir, ec) && !ec;
}

std::string unpack_dashboard_zip(const std::string& zip, const std::string& dir, const DashboardLimits& limits) {
  zip_error_t zerr;
  zip_error_init(&zerr);
  zip_source_t* src = zip_source_buffer_create(zip.data(), zip.size(), 0, &zerr);
  if (!src) {
    std::string why = zip_error_strerror(&zerr);
    zip_error_fini(&zerr);
    return "cannot read the archive: " + why;
  }
  std::unique_ptr<zip_t, ZipCloser> z(zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &zerr));
  if (!z) {
    zip_source_free(src);
    std::string why = zip_error_strerror(&zerr);
    zip_error_fini(&zerr);
    return "not a zip archive: " + why;
  }
  zip_error_fini(&zerr);

  const fs::path target = fs::absolute(dir);
  std::error_code ec;
  fs::create_directories(target.parent_path(), ec);
  if (ec) return target.parent_path().string() + ": " + ec.message();
  // Beside the target, so the rename stays on one file system.
  const fs::path tmp = target.parent_path() / ("." + target.filename().string() + ".tmp-" + std::to_string(::getpid()));
  fs::remove_all(tmp, ec);
  if (::mkdir(tmp.c_str(), 0755) != 0) return tmp.string() + ": " + std::strerror(errno);
  std::string err = unpack_into(z.get(), tmp, limits);
  if (err.empty()) {
    // An empty directory in the way is replaced; anything else is not ours.
    if (fs::is_directory(fs::symlink_status(target, ec)) && fs::is_empty(target, ec)) fs::remove(target, ec);
    if (::rename(tmp.c_str(), target.c_str()) != 0) err = target.string() + ": " + std::strerror(errno);
  }
  if (!err.empty()) fs::remove_all(tmp, ec);
  return err;
}

asio::awaitable<std::string> download_external_ui(outbound::Outbound& via, config::ClashApiOptions options,
                                                  DashboardLimits limits) {
  if (options.external_ui.empty() || options.external_ui_download_url.empty() ||
      !external_ui_missing(options.external_ui))
    co_return std::string();
  outbound::HttpLimits http;
  http.timeout = std::chrono::minutes(2);
  http.who = "clash-api";
  auto getting = outbound::http_get(via, options.external_ui_download_url, limits.download, http);
  auto got = co_await std::move(getting);
  if (!got) co_return got.error().text();
  std::string err = unpack_dashboard_zip(*got, options.external_ui, limits);
  if (!err.empty()) co_return options.external_ui_download_url + ": " + err;
  co_return std::string();
}

}  // namespace anytls::app
