#pragma once
// Aggregate reports: what an aggregate-level agreement's recipient receives instead of records.
// The router counts each record the agreement covers (store `observations`); once per period the
// scheduler builds the report from them, suppresses small counts, writes it as a NIEM
// aggregate-report document, validates it, and queues it for the recipient like any other
// document, with its audit entry. `niem-dsa report` builds the same report on demand.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "oversight/placements.h"
#include "routing/agreement.h"
#include "store/store.h"
#include "validation/validation.h"

namespace niem::report {

// A closed range of days, YYYY-MM-DD.
struct period {
  std::string from, to;
  std::string label;  // "2026-Q3", or "FROM..TO"
};
// "2026-Q3", or "2026-07-01..2026-09-30".
std::optional<period> parse_period(std::string_view text);
period quarter_of(std::string_view day);
// The latest quarter whose report is due on `today`: ended at least `after_days` days ago.
period due_quarter(std::string_view today, std::uint32_t after_days);

// ---- Counting ----

using oversight::placement_event;
struct counted_event {
  std::string person, date, klass;
};
// A medication authorization exception (an alert, or with `resolves` the resolution of one):
// the child's Medicaid id, the day it was raised, the county it names, its outcome, its id.
struct exception_event {
  std::string person, date, county, outcome, notice, resolves;
};

enum class shown { value, primary, complementary };

struct cell {
  std::uint64_t value = 0;
  shown state = shown::value;
};

struct class_cell {
  std::string klass;
  cell children;
};

struct area {
  std::string county;       // empty: the state (or, with `unknown`, no placement known)
  bool unknown = false;     // children for whom no placement was known at the fill date
  bool has_foster = false;  // the unknown row has no population
  cell foster;              // distinct children in foster care in the period
  std::vector<class_cell> classes;
  std::vector<class_cell> exceptions;  // unresolved alerts by outcome (klass: the outcome)
};

struct table {
  std::string agreement;  // id@version
  period p;
  std::uint32_t minimum = 11;
  std::uint64_t observations = 0;  // records read to build it (0: the broker counted nothing)
  area state;
  std::vector<area> counties;  // by FIPS code, then the unknown row
};

// Distinct children with a counted event in the period, by county (the child's placement on
// the event's day, matched through the Medicaid id) and class; the children in foster care in
// each county during the period; and the children with at least one medication authorization
// alert raised in the period and not resolved by its end, by the county the alert names and its
// outcome. Every county row lists every class and outcome seen in the period.
table count(const std::vector<placement_event>& placements,
            const std::vector<counted_event>& events, const period& p,
            const std::vector<exception_event>& exceptions = {});

// Suppresses every count below `minimum` (primary), then, until nothing changes, in every group
// of counts that adds up to a published total (a class's counts over the counties; the counties'
// foster-care counts), one more count wherever exactly one would otherwise be hidden
// (complementary): the smallest shown one.
void suppress(table& t, std::uint32_t minimum);

// The report as a NIEM aggregate-report document, through the checked writer: with `schemas`,
// checked against them as it is written, what is wrong going to `problems`.
std::string write_document(const table& t, std::string_view report_id,
                           std::string_view produced_date,
                           const validation::schema_set* schemas = nullptr,
                           std::vector<base::diagnostic>* problems = nullptr);
std::string format_text(const table& t);
std::string format_json(const table& t);

// Reads what the store counted for the agreement and builds the suppressed table.
base::result<table> build(store::queries& st, const routing::agreement& a, const period& p);

// ---- Production ----

// The aggregate-report exchange's root, for the mapping library that loads its schema beside the
// others (mapping::written_exchange).
validation::qname document_root();

struct scheduler_options {
  // The schema set holding the aggregate-report exchange (the mapping library's shared one).
  std::shared_ptr<const validation::schema_set> schemas;
  std::uint32_t check_ms = 3600 * 1000;
  std::uint32_t start_delay_ms = 300 * 1000;  // adapters catching up are counted first
  std::vector<std::string> recipients;        // queues the broker keeps
};

// Produces each aggregate agreement's due report once (its key in the store makes a second
// production a duplicate) and hands the new queue entries to `enqueued` (the transport). A
// period for which the store counted nothing at all (the broker was not yet running) is not
// reported as zeros: it waits, and `niem-dsa report` answers for it on demand.
class scheduler {
 public:
  scheduler(scheduler_options opt, std::vector<std::shared_ptr<const routing::agreement>> all,
            store::queries& counts, store::record_path& records, const base::clock& clk,
            std::function<void(std::vector<store::queue_entry>)> enqueued);
  ~scheduler();
  scheduler(const scheduler&) = delete;
  scheduler& operator=(const scheduler&) = delete;

  // Thread-safe: the agreements (a reload) and the recipients with a queue that later runs
  // produce for.
  void set_agreements(std::vector<std::shared_ptr<const routing::agreement>> all,
                      std::vector<std::string> recipients);
  // A thread that checks now and every check_ms.
  void start();
  void stop();
  // Produces what is due now; the labels of the reports queued ("DSA-009@1/2026-Q3").
  std::vector<std::string> run_once();

  struct impl;

 private:
  std::unique_ptr<impl> impl_;
};

}  // namespace niem::report
