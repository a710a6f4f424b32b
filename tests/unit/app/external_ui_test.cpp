// The dashboard archive's unpacking (app/external_ui_download): sing-box's
// single top folder stripped, and hostile archives refused with nothing
// written anywhere: "..", absolute names, symbolic links, more than the
// size or entry limits.
#include "app/external_ui_download.hpp"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <zip.h>

namespace anytls::app {
namespace {

namespace fs = std::filesystem;

struct ZipEntry {
  std::string name;
  std::string data;
  bool symlink = false;
};

// A zip archive in memory, written with libzip (names as given, unchecked).
std::string make_zip(const std::vector<ZipEntry>& entries, const fs::path& scratch) {
  const fs::path file = scratch / "archive.zip";
  int err = 0;
  zip_t* z = zip_open(file.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
  if (!z) throw std::runtime_error("zip_open failed");
  for (const auto& e : entries) {
    zip_int64_t i;
    if (!e.name.empty() && e.name.back() == '/') {
      i = zip_dir_add(z, e.name.c_str(), ZIP_FL_ENC_UTF_8);
    } else {
      zip_source_t* src = zip_source_buffer(z, e.data.data(), e.data.size(), 0);
      i = zip_file_add(z, e.name.c_str(), src, ZIP_FL_ENC_UTF_8);
    }
    if (i < 0) throw std::runtime_error(std::string("zip add: ") + zip_strerror(z));
    if (e.symlink)
      zip_file_set_external_attributes(z, static_cast<zip_uint64_t>(i), 0, ZIP_OPSYS_UNIX,
                                       static_cast<zip_uint32_t>(S_IFLNK | 0777) << 16);
  }
  if (zip_close(z) != 0) throw std::runtime_error("zip_close failed");
  std::ifstream in(file, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  fs::remove(file);
  return ss.str();
}

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Every path under root, relative, sorted.
std::vector<std::string> tree(const fs::path& root) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(root)) out.push_back(fs::relative(e.path(), root).string());
  std::sort(out.begin(), out.end());
  return out;
}

class ExternalUiUnpack : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("anytls-external-ui-" + std::to_string(::getpid()) + "-" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_ / "scratch");
    fs::create_directories(root_ / "box");
  }
  void TearDown() override { fs::remove_all(root_); }
  fs::path box() const { return root_ / "box"; }  // where external_ui sits
  fs::path ui() const { return box() / "ui"; }
  std::string zip(const std::vector<ZipEntry>& e) { return make_zip(e, root_ / "scratch"); }

  fs::path root_;
};

std::vector<ZipEntry> dashboard() {
  return {{"dist/", ""}, {"dist/index.html", "<html>dashboard</html>"}, {"dist/assets/", ""},
          {"dist/assets/app.js", "console.log(1)"}};
}

TEST_F(ExternalUiUnpack, SingleTopFolderIsStripped) {
  EXPECT_TRUE(external_ui_missing(ui().string()));
  EXPECT_EQ(unpack_dashboard_zip(zip(dashboard()), ui().string(), DashboardLimits{}), "");
  EXPECT_EQ(read(ui() / "index.html"), "<html>dashboard</html>");
  EXPECT_EQ(read(ui() / "assets" / "app.js"), "console.log(1)");
  EXPECT_FALSE(external_ui_missing(ui().string()));
  EXPECT_EQ(tree(box()), (std::vector<std::string>{"ui", "ui/assets", "ui/assets/app.js", "ui/index.html"}));
}

TEST_F(ExternalUiUnpack, FilesAtTheTopStayWhereTheyAre) {
  fs::create_directories(ui());  // an empty directory counts as missing
  EXPECT_TRUE(external_ui_missing(ui().string()));
  std::vector<ZipEntry> flat = {{"index.html", "top"}, {"js/app.js", "x"}};
  EXPECT_EQ(unpack_dashboard_zip(zip(flat), ui().string(), DashboardLimits{}), "");
  EXPECT_EQ(read(ui() / "index.html"), "top");
  EXPECT_EQ(read(ui() / "js" / "app.js"), "x");
}

// A refused archive leaves nothing: not in external_ui, not beside it.
void expect_refused(const std::string& err, const std::string& part, const fs::path& box) {
  EXPECT_NE(err.find(part), std::string::npos) << err;
  EXPECT_TRUE(tree(box).empty()) << testing::PrintToString(tree(box));
}

TEST_F(ExternalUiUnpack, DotDotIsRefused) {
  std::vector<ZipEntry> evil = {{"index.html", "ok"}, {"../evil.txt", "escaped"}};
  expect_refused(unpack_dashboard_zip(zip(evil), ui().string(), DashboardLimits{}), "\"..\" in ../evil.txt", box());
  EXPECT_FALSE(fs::exists(root_ / "evil.txt"));
  std::vector<ZipEntry> inner = {{"dist/index.html", "ok"}, {"dist/a/../../../evil.txt", "escaped"}};
  expect_refused(unpack_dashboard_zip(zip(inner), ui().string(), DashboardLimits{}), "\"..\"", box());
}

TEST_F(ExternalUiUnpack, AbsoluteNameIsRefused) {
  std::vector<ZipEntry> evil = {{"/tmp/evil.txt", "escaped"}};
  expect_refused(unpack_dashboard_zip(zip(evil), ui().string(), DashboardLimits{}), "absolute path", box());
}

TEST_F(ExternalUiUnpack, SymlinkIsRefused) {
  std::vector<ZipEntry> evil = {{"index.html", "ok"}, {"link", "/etc/passwd", true}};
  expect_refused(unpack_dashboard_zip(zip(evil), ui().string(), DashboardLimits{}), "symbolic link link", box());
}

TEST_F(ExternalUiUnpack, OversizedIsRefused) {
  DashboardLimits small;
  small.unpacked = 1000;
  std::vector<ZipEntry> big = {{"index.html", std::string(5000, 'a')}};  // compresses to a few bytes
  expect_refused(unpack_dashboard_zip(zip(big), ui().string(), small), "more than 1000 bytes", box());
  DashboardLimits few;
  few.entries = 2;
  std::vector<ZipEntry> many = {{"a", "1"}, {"b", "2"}, {"c", "3"}};
  expect_refused(unpack_dashboard_zip(zip(many), ui().string(), few), "more than 2 entries", box());
}

TEST_F(ExternalUiUnpack, NotAZipIsRefused) {
  expect_refused(unpack_dashboard_zip("<html>a captive portal</html>", ui().string(), DashboardLimits{}),
                 "not a zip archive", box());
}

TEST_F(ExternalUiUnpack, NonEmptyDirectoryIsLeftAlone) {
  fs::create_directories(ui());
  std::ofstream(ui() / "mine.html") << "mine";
  EXPECT_FALSE(external_ui_missing(ui().string()));
}

}  // namespace
}  // namespace anytls::app
