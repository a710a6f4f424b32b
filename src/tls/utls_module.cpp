#include "tls/utls_module.hpp"

#include <dlfcn.h>

#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <vector>

#include <spdlog/spdlog.h>

namespace anytls::tls {

namespace {

net::Error fail(const std::string& what) { return net::Error{std::make_error_code(std::errc::not_supported), what}; }

#ifdef ANYTLS_HAVE_UTLS
std::vector<std::string> candidates() {
  std::vector<std::string> out;
  // An explicit path is the only one tried.
  if (const char* env = std::getenv("ANYTLS_UTLS_MODULE"); env && *env) return {env};
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    out.push_back((exe.parent_path() / "libanytls_utls.so").string());
    out.push_back((exe.parent_path().parent_path() / "lib" / "anytls" / "libanytls_utls.so").string());
  }
#ifdef ANYTLS_UTLS_MODULE_PATH
  out.emplace_back(ANYTLS_UTLS_MODULE_PATH);
#endif
  return out;
}
#endif

net::Result<const anytls_utls_api*> load() {
#ifndef ANYTLS_HAVE_UTLS
  return fail("utls: the Chrome ClientHello module was not built into this binary "
              "(it needs android-libboringssl-dev and libbrotli-dev; sanitizer builds leave it out)");
#else
  std::string tried;
  for (const auto& path : candidates()) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) {
      tried += (tried.empty() ? "" : ", ") + path;
      continue;
    }
    // DEEPBIND: the module and BoringSSL resolve their own SSL_* first.
    // Never unloaded: BoringSSL keeps thread-local state.
    void* h = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
    if (!h) return fail(std::string("utls: cannot load ") + path + ": " + ::dlerror());
    auto entry = reinterpret_cast<anytls_utls_api_fn>(::dlsym(h, ANYTLS_UTLS_ENTRY));
    if (!entry) return fail("utls: " + path + " has no " ANYTLS_UTLS_ENTRY);
    const anytls_utls_api* api = entry();
    if (!api || api->abi != ANYTLS_UTLS_ABI)
      return fail("utls: " + path + " has another interface version (rebuild it with this binary)");
    spdlog::debug("utls: loaded {} ({})", path, api->library());
    return api;
  }
  return fail("utls: the Chrome ClientHello module libanytls_utls.so was not found (looked at " + tried +
              "; set ANYTLS_UTLS_MODULE to its path)");
#endif
}

}  // namespace

bool utls_built() {
#ifdef ANYTLS_HAVE_UTLS
  return true;
#else
  return false;
#endif
}

net::Result<const anytls_utls_api*> utls_module() {
  static std::once_flag once;
  static net::Result<const anytls_utls_api*>* result = nullptr;
  std::call_once(once, [] { result = new net::Result<const anytls_utls_api*>(load()); });
  return *result;
}

}  // namespace anytls::tls
