#pragma once
// The admin server's metrics: requests with a wrong token and those refused while their address
// was locked out.
#include "base/metrics.h"

namespace niem::admin {

struct admin_probe {
  base::counter_family auth_failures{
      "niem_admin_auth_failures_total",
      "Admin requests with a wrong token, and those refused while their address was locked out.",
      {"outcome"}};

  admin_probe() { base::register_families("admin", auth_failures); }
};

inline admin_probe& probe() {
  static admin_probe p;
  return p;
}

}  // namespace niem::admin
