// A network namespace for one test: created, entered by this thread (and the
// threads and processes it starts), left and deleted at the end even when
// the test fails. Skips (GTEST_SKIP in the caller) without root or `ip netns`.
#pragma once
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "support/shell.hpp"

namespace anytls::tun::test {

using ::anytls::test::Shell;
using ::anytls::test::sh;

class NetNs {
 public:
  // Why it cannot run here ("" when it can).
  static std::string unavailable() {
    if (::geteuid() != 0) return "needs root (network namespaces)";
    if (sh("ip netns list").status != 0) return "`ip netns` unavailable";
    return {};
  }

  explicit NetNs(const std::string& name) : name_(name + "-" + std::to_string(::getpid())) {
    sh("ip netns del " + name_);
    ok_ = sh("ip netns add " + name_).status == 0;
    if (!ok_) return;
    home_ = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    int target = ::open(("/run/netns/" + name_).c_str(), O_RDONLY | O_CLOEXEC);
    ok_ = home_ >= 0 && target >= 0 && ::setns(target, CLONE_NEWNET) == 0;
    if (target >= 0) ::close(target);
    if (ok_) sh("ip link set lo up");
  }
  ~NetNs() {
    if (home_ >= 0) {
      ::setns(home_, CLONE_NEWNET);
      ::close(home_);
    }
    sh("ip netns del " + name_);
  }
  NetNs(const NetNs&) = delete;
  NetNs& operator=(const NetNs&) = delete;

  bool ok() const { return ok_; }
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  int home_ = -1;
  bool ok_ = false;
};

// A fixture whose tests run in a namespace of their own, built by `setup`
// (shell commands run inside it).
class NamespaceTest : public ::testing::Test {
 protected:
  NamespaceTest(std::string name, std::string setup) : name_(std::move(name)), setup_(std::move(setup)) {}
  void SetUp() override {
    if (auto why = NetNs::unavailable(); !why.empty()) GTEST_SKIP() << why;
    ns_ = std::make_unique<NetNs>(name_);
    ASSERT_TRUE(ns_->ok());
    auto r = sh(setup_);
    ASSERT_EQ(r.status, 0) << r.out;
  }
  void TearDown() override { ns_.reset(); }

 private:
  std::string name_, setup_;
  std::unique_ptr<NetNs> ns_;
};

}  // namespace anytls::tun::test
