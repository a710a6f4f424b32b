/* The C interface between anytls and libanytls_utls.so, the module that
 * sends Chrome's ClientHello with BoringSSL. BoringSSL's symbols are the
 * unprefixed SSL_* of OpenSSL, so the module is dlopen()ed with RTLD_LOCAL |
 * RTLD_DEEPBIND and only this table crosses the boundary: no BoringSSL type,
 * no OpenSSL type, no C++ object, no exception.
 *
 * I/O follows SSL_read/SSL_write: the module reads and writes the
 * nonblocking fd itself; a call that cannot progress returns
 * ANYTLS_UTLS_WANT_READ/WRITE and is repeated (with the same arguments)
 * once the fd is ready. */
#ifndef ANYTLS_TLS_UTLS_MODULE_API_H
#define ANYTLS_TLS_UTLS_MODULE_API_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ANYTLS_UTLS_ABI 1
#define ANYTLS_UTLS_ENTRY "anytls_utls_get_api"

/* Results of handshake/read/peek/write below 1. */
enum {
  ANYTLS_UTLS_WANT_READ = -1,
  ANYTLS_UTLS_WANT_WRITE = -2,
  ANYTLS_UTLS_CLOSED = -3, /* close_notify, or the peer closed the TCP connection */
  ANYTLS_UTLS_ERROR = -4   /* see last_error / last_errno */
};

typedef struct anytls_utls_ctx anytls_utls_ctx;
typedef struct anytls_utls_conn anytls_utls_conn;

/* Certificate check, called during the handshake with the peer's chain
 * (DER, leaf first). Returns 1 to accept; 0 to refuse, with the reason in
 * err (NUL-terminated, at most errlen bytes). */
typedef int (*anytls_utls_verify_fn)(void* arg, const uint8_t* const* certs, const size_t* lens, size_t n,
                                     char* err, size_t errlen);

typedef struct anytls_utls_ctx_config {
  /* ALPN in wire form (length-prefixed names); NULL/0 = none. */
  const uint8_t* alpn;
  size_t alpn_len;
} anytls_utls_ctx_config;

typedef struct anytls_utls_api {
  uint32_t abi; /* ANYTLS_UTLS_ABI */
  /* e.g. "BoringSSL (API 17)" */
  const char* (*library)(void);

  /* One per outbound: the Chrome configuration and the newest resumable
   * session (shared by its connections, thread-safe). NULL on failure with
   * the reason in err. */
  anytls_utls_ctx* (*ctx_new)(const anytls_utls_ctx_config* cfg, char* err, size_t errlen);
  void (*ctx_free)(anytls_utls_ctx* ctx);

  /* A client connection on a connected nonblocking socket; the fd stays
   * owned by the caller. sni: NULL = none. verify is called once per full
   * handshake (a resumed one was verified when its session was made). */
  anytls_utls_conn* (*conn_new)(anytls_utls_ctx* ctx, int fd, const char* sni, anytls_utls_verify_fn verify,
                                void* verify_arg, char* err, size_t errlen);
  void (*conn_free)(anytls_utls_conn* c);

  int (*handshake)(anytls_utls_conn* c);                 /* 1 when done */
  int (*read)(anytls_utls_conn* c, void* buf, int len);  /* bytes (> 0) */
  /* Like read but leaves the data; processes records without application
   * data (session tickets, key updates). */
  int (*peek)(anytls_utls_conn* c, void* buf, int len);
  int (*write)(anytls_utls_conn* c, const void* buf, int len); /* bytes (> 0) */
  /* Best-effort close_notify, never blocks. */
  void (*shutdown)(anytls_utls_conn* c);

  /* After ANYTLS_UTLS_ERROR: the reason in words, and errno when a system
   * call failed (0 otherwise). */
  const char* (*last_error)(const anytls_utls_conn* c);
  int (*last_errno)(const anytls_utls_conn* c);

  int (*session_reused)(const anytls_utls_conn* c);
  /* The negotiated ALPN protocol, or "" */
  const char* (*alpn_selected)(const anytls_utls_conn* c, size_t* len);
} anytls_utls_api;

/* The module's one exported symbol. */
typedef const anytls_utls_api* (*anytls_utls_api_fn)(void);

#ifdef __cplusplus
}
#endif

#endif
