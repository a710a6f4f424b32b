// Builds the tests' precompiled header.
