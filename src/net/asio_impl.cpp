// asio is built once, here (ASIO_SEPARATE_COMPILATION keeps every other
// translation unit from compiling its implementation again).
#include <asio/impl/src.hpp>
