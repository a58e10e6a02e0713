// The one table of routes: each concern adds its own, in the order they are matched (a literal
// path before a parameter: /api/dlq/replay before /api/dlq/{id}).
#include "admin/handlers.h"

namespace niem::admin {

const std::vector<route>& routes() {
  static const std::vector<route> table = [] {
    std::vector<route> t;
    add_health_routes(t);
    add_queue_routes(t);
    add_message_routes(t);
    add_agreement_routes(t);
    add_medication_routes(t);
    add_history_routes(t);
    add_operator_routes(t);
    return t;
  }();
  return table;
}

}  // namespace niem::admin
