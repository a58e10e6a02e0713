#pragma once
// Access to the Proton C objects behind the C++ handles, for the few things the C++ API of 0.37
// does not offer: the link's max-message-size, the session's incoming capacity (so an oversized
// transfer cannot make the broker buffer it), partial-delivery sizes, and the conditions and
// flags of dispositions (reject with a reason; modified with delivery-failed).
//
// The C++ binding grants `internal::factory<T>` access to the C object; the library defines the
// template in a private header with exactly this member, so this definition matches it.
#include <proton/delivery.h>
#include <proton/disposition.h>
#include <proton/link.h>
#include <proton/session.h>
#include <proton/connection.hpp>
#include <proton/delivery.hpp>
#include <proton/receiver.hpp>
#include <proton/sender.hpp>
#include <proton/session.hpp>
#include <proton/tracker.hpp>

namespace proton::internal {
template <class T>
class factory {
 public:
  static auto unwrap(const T& t) { return t.pn_object(); }
};
}  // namespace proton::internal

namespace niem::transport::pc {

inline pn_link_t* link(const proton::receiver& r) {
  return proton::internal::factory<proton::receiver>::unwrap(r);
}
inline pn_session_t* session(const proton::session& s) {
  return proton::internal::factory<proton::session>::unwrap(s);
}
inline pn_delivery_t* delivery(const proton::delivery& d) {
  return proton::internal::factory<proton::delivery>::unwrap(d);
}
inline pn_delivery_t* delivery(const proton::tracker& t) {
  return proton::internal::factory<proton::tracker>::unwrap(t);
}

}  // namespace niem::transport::pc
