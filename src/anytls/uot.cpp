#include "anytls/uot.hpp"
