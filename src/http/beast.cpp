// Compiles src/http/beast.hpp once on its own, so that a mistake in it shows
// here first rather than in whichever unity batch includes it.
#include "http/beast.hpp"
