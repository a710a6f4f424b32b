// The one way into Boost.Beast: its HTTP parser and serializer only (its
// string_view, boost::core::string_view, converts to and from
// std::string_view both ways). Beast's stream I/O is not used (our
// connections are net::Conn coroutines), so Boost.Asio appears here only for
// Beast's buffer types, beside the standalone asio the rest of the code uses.
// Include this from src/http/*.cpp only: it is heavy to compile.
#pragma once
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/string_body.hpp>
#include <system_error>

namespace anytls::http {
namespace beast_http = boost::beast::http;

// Beast reports boost::system::error_code; our I/O boundaries speak
// std::error_code (Boost's converts, keeping message()).
inline std::error_code to_std(const boost::system::error_code& ec) { return ec; }
}  // namespace anytls::http
