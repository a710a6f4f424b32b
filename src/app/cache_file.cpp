#include "app/cache_file.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

namespace anytls::app {

namespace {

using json = nlohmann::json;
constexpr std::string_view kMagic = "anytls_cache_file";

std::string errno_text(const std::string& what) { return what + ": " + std::strerror(errno); }

// Writes all of data to fd.
bool write_all(int fd, const std::string& data) {
  std::size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<std::size_t>(n);
  }
  return true;
}

json family_json(const dns::FakeIpStore::State::Family& f) { return {{"next", f.next}, {"names", f.names}}; }

dns::FakeIpStore::State::Family family_of(const json& j) {
  dns::FakeIpStore::State::Family f;
  f.next = j.at("next").get<std::size_t>();
  f.names = j.at("names").get<std::vector<std::string>>();
  return f;
}

std::string directory_of(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

CacheFile::CacheFile(config::CacheFileOptions options) : options_(std::move(options)) {}

std::string CacheFile::open() {
  std::ifstream in(options_.path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) return {};
    writable_ = false;
    return errno_text("experimental.cache_file: cannot read " + options_.path);
  }
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  if (text.empty()) return {};
  try {
    json doc = json::parse(text);
    if (!doc.is_object() || !doc.contains(kMagic)) throw std::runtime_error("not an anytls-cpp cache file");
    if (doc.at(kMagic) != 1) throw std::runtime_error("unknown version " + doc.at(kMagic).dump());
    for (auto& [id, e] : doc.at("caches").items()) {
      Entry entry;
      if (e.contains("selected"))
        for (auto& [g, m] : e.at("selected").items()) entry.selected[g] = m.get<std::string>();
      if (e.contains("clash_mode")) entry.clash_mode = e.at("clash_mode").get<std::string>();
      if (e.contains("fakeip"))
        for (auto& [key, t] : e.at("fakeip").items()) {
          dns::FakeIpStore::State state;
          if (t.contains("inet4")) state.inet4 = family_of(t.at("inet4"));
          if (t.contains("inet6")) state.inet6 = family_of(t.at("inet6"));
          entry.fakeip[key] = std::move(state);
        }
      caches_[id] = std::move(entry);
    }
  } catch (const std::exception& e) {
    // Someone else's file (sing-box's bbolt cache.db has this name too):
    // do not overwrite it.
    writable_ = false;
    caches_.clear();
    return "experimental.cache_file: " + options_.path + ": " + e.what() +
           "; choices will not be stored (use another path)";
  }
  return {};
}

std::optional<std::string> CacheFile::load_selected(std::string_view group) const {
  auto c = caches_.find(options_.cache_id);
  if (c == caches_.end()) return std::nullopt;
  auto it = c->second.selected.find(group);
  if (it == c->second.selected.end()) return std::nullopt;
  return it->second;
}

void CacheFile::save_selected(std::string_view group, std::string_view member) {
  auto& entry = caches_[options_.cache_id];
  auto it = entry.selected.find(group);
  if (it != entry.selected.end() && it->second == member) return;
  entry.selected[std::string(group)] = std::string(member);
  write();
}

std::optional<std::string> CacheFile::load_mode() const {
  auto c = caches_.find(options_.cache_id);
  if (c == caches_.end() || c->second.clash_mode.empty()) return std::nullopt;
  return c->second.clash_mode;
}

void CacheFile::save_mode(std::string_view mode) {
  auto& entry = caches_[options_.cache_id];
  if (entry.clash_mode == mode) return;
  entry.clash_mode = std::string(mode);
  write();
}

std::optional<dns::FakeIpStore::State> CacheFile::load_fakeip(std::string_view key) const {
  auto c = caches_.find(options_.cache_id);
  if (c == caches_.end()) return std::nullopt;
  auto it = c->second.fakeip.find(key);
  if (it == c->second.fakeip.end()) return std::nullopt;
  return it->second;
}

void CacheFile::save_fakeip(std::string_view key, dns::FakeIpStore::State state) {
  caches_[options_.cache_id].fakeip[std::string(key)] = std::move(state);
}

void CacheFile::write() {
  if (!writable_) return;
  json doc = json::object();
  doc[std::string(kMagic)] = 1;
  json caches = json::object();
  for (const auto& [id, e] : caches_) {
    json entry = json::object();
    json selected = json::object();
    for (const auto& [g, m] : e.selected) selected[g] = m;
    entry["selected"] = std::move(selected);
    if (!e.clash_mode.empty()) entry["clash_mode"] = e.clash_mode;
    if (!e.fakeip.empty()) {
      json tables = json::object();
      for (const auto& [key, state] : e.fakeip) {
        json t = json::object();
        if (!state.inet4.names.empty()) t["inet4"] = family_json(state.inet4);
        if (!state.inet6.names.empty()) t["inet6"] = family_json(state.inet6);
        tables[key] = std::move(t);
      }
      entry["fakeip"] = std::move(tables);
    }
    caches[id] = std::move(entry);
  }
  doc["caches"] = std::move(caches);
  const std::string text = doc.dump(2) + "\n";
  const std::string tmp = options_.path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    write_error_ = errno_text("cannot create " + tmp);
  } else {
    bool ok = write_all(fd, text) && ::fsync(fd) == 0;
    if (!ok) write_error_ = errno_text("cannot write " + tmp);
    ::close(fd);
    if (ok && ::rename(tmp.c_str(), options_.path.c_str()) != 0) {
      write_error_ = errno_text("cannot rename " + tmp + " to " + options_.path);
      ok = false;
    }
    if (!ok) {
      ::unlink(tmp.c_str());
    } else {
      // The rename itself must reach the disk.
      int dir = ::open(directory_of(options_.path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (dir >= 0) {
        (void)::fsync(dir);
        ::close(dir);
      }
      write_error_.clear();
      return;
    }
  }
  spdlog::error("experimental.cache_file: {}", write_error_);
}

}  // namespace anytls::app
