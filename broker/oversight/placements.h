#pragma once
// A child's placements over time, from placement events (start, change, end) in the order they
// were received: the one reading of "the child's placement on a day" for the quarterly report's
// counties and the medication check's alerts.
//
// A child is known by client number; an event that gives only a Medicaid id belongs to the child
// whose client number some event paired with that Medicaid id first, else to that Medicaid id
// alone. Events of one placement (same id) merge into an episode: the earliest begin, the latest
// end and county received. A new episode ends the one before it on the day before it begins.
#include <map>
#include <set>
#include <string>
#include <vector>

namespace niem::oversight {

struct placement_event {
  std::string client, person, county, placement, begin, end;  // person: the Medicaid id
};

struct placement_episode {
  std::string county, begin, end;
  std::string until;  // effective last day: its end, or the day before the next episode; "": open
};

class placement_history {
 public:
  void add(placement_event e);
  // The county of the child's placement on `day`, "" when none is known. The child: the one a
  // client number names, or (with `client` empty) the one a Medicaid id belongs to.
  std::string county_on(const std::string& client, const std::string& medicaid_id,
                        const std::string& day) const;
  // Every child's episodes in order of begin (children by client number, or "medicaid:ID").
  std::map<std::string, std::vector<placement_episode>> timelines() const;
  // The child's key ("medicaid:ID" when no event paired the id with a client number).
  std::string child_of(const std::string& medicaid_id) const;

 private:
  std::vector<placement_episode> timeline(const std::string& child) const;

  std::vector<placement_event> events_;                       // as received
  std::map<std::string, std::vector<std::size_t>> by_child_;  // client -> its events' positions
  std::map<std::string, std::vector<std::size_t>>
      unpaired_;                                             // Medicaid id -> events without client
  std::map<std::string, std::string> client_of_;             // Medicaid id -> first client paired
  std::map<std::string, std::set<std::string>> persons_of_;  // client -> ids paired first with it
};

}  // namespace niem::oversight
