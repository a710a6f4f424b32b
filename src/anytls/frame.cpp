#include "anytls/frame.hpp"
