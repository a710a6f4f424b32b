// Loads libanytls_utls.so (the BoringSSL module that sends Chrome's
// ClientHello) once per process, with RTLD_LOCAL | RTLD_DEEPBIND so its
// unprefixed SSL_* symbols bind inside the module and never meet OpenSSL's.
#pragma once
#include <string>

#include "net/result.hpp"
#include "tls/utls/module_api.h"

namespace anytls::tls {

// Whether this binary was built with the module (ANYTLS_HAVE_UTLS).
bool utls_built();

// The module's function table, or why it cannot be had: not built, not
// found, or a different ABI. $ANYTLS_UTLS_MODULE when set (only that),
// else next to the executable, ../lib/anytls/ from it, the build tree.
net::Result<const anytls_utls_api*> utls_module();

}  // namespace anytls::tls
