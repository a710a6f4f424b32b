#include "anytls/padding.hpp"
