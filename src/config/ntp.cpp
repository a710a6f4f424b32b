// The top-level "ntp" section (sing-box's NTPOptions).
#include "config/sections.hpp"

namespace anytls::config::detail {

NtpOptions decode_ntp(const json& j, const std::string& path) {
  Obj o(j, path);
  NtpOptions n;
  n.enabled = get_bool(o, "enabled");
  n.server = get_string(o, "server");
  if (o.get("server_port")) n.server_port = get_port(o, "server_port");
  n.interval = get_duration(o, "interval", defaults::kNtpInterval, true);
  // Setting the machine's clock needs CAP_SYS_TIME and fights whatever else
  // keeps the time (systemd-timesyncd, chrony); ignoring the field would
  // leave the clock unset while the user believes it is kept.
  if (get_bool(o, "write_to_system"))
    fail(o.at("write_to_system"),
         "not supported: anytls-cpp corrects the time only for its own TLS certificate checks; keep the system clock "
         "with the system's NTP client (systemd-timesyncd, chrony)");
  decode_dial(o, n.dial);
  o.finish();
  if (n.enabled && n.server.empty()) fail(o.at("server"), "required when ntp is enabled");
  return n;
}

}  // namespace anytls::config::detail
