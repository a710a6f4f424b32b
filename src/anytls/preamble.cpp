#include "anytls/preamble.hpp"
