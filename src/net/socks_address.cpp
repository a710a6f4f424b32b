#include "net/socks_address.hpp"
