// The process's correction of the system clock, as measured by NTP (the
// `ntp` section, app/ntp_service): what TLS certificate checks take as
// "now". One value for the whole process because SSL_CTXs are shared by
// every worker; atomic, so any thread reads it without a lock.
#pragma once
#include <chrono>
#include <optional>

namespace anytls::net {

// Stores how far the NTP server's clock is ahead of ours (negative: behind).
void set_clock_offset(std::chrono::nanoseconds offset);
// Back to "not measured" (the system clock is used as it is).
void clear_clock_offset();
// The last measured offset, nullopt when none was.
std::optional<std::chrono::nanoseconds> clock_offset();
// The system clock corrected by the offset (the system clock when none).
std::chrono::system_clock::time_point corrected_now();

}  // namespace anytls::net
