// An HTTP/1.1 request as the client sends it, and the one coroutine that
// writes it on a connection (serialised by Beast, in request_writer.cpp).
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include <asio/awaitable.hpp>

#include "http/request_head.hpp"
#include "net/conn.hpp"
#include "net/result.hpp"

namespace anytls::http {

struct Request {
  std::string method = "GET";
  std::string target = "/";  // origin form: path and query
  std::string host;          // the Host header: the URL's authority
  Fields headers;
  // Sent with its Content-Length when not empty (or when the method
  // carries a body: POST, PUT, PATCH).
  std::string body;
};

// The request's bytes: start line, Host, the headers, Content-Length when
// there is a body, the body. A method, target or field with CR, LF or NUL
// in it is refused (ClientError::bad_request), never sent.
net::Result<std::string> serialize(const Request& request);

// serialize(), then one write of it.
asio::awaitable<net::Result<std::size_t>> write_request(net::Conn& conn, const Request& request);

}  // namespace anytls::http
