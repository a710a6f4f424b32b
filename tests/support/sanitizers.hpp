// ANYTLS_TEST_SANITIZED: 1 in an ASan or TSan build, where malloc is the
// sanitizer's. GCC says so with __SANITIZE_ADDRESS__ / __SANITIZE_THREAD__,
// clang (the sanitizer builds of the test command) only through
// __has_feature.
#pragma once

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define ANYTLS_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define ANYTLS_TEST_SANITIZED 1
#endif
#endif
#ifndef ANYTLS_TEST_SANITIZED
#define ANYTLS_TEST_SANITIZED 0
#endif
