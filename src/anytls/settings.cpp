#include "anytls/settings.hpp"
