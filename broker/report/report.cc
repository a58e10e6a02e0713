#include "report/report.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "base/digest.h"
#include "base/ids.h"
#include "base/log.h"
#include "base/text.h"
#include "routing/policy.h"
#include "validation/checked_writer.h"
#include "validation/validation.h"
#include "validation/vocabulary.h"

namespace niem::report {

namespace {

namespace chr = std::chrono;

std::optional<chr::year_month_day> parse_day(std::string_view s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return std::nullopt;
  auto num = [&](std::size_t at, std::size_t n) {
    int v = 0;
    for (std::size_t i = at; i < at + n; ++i) {
      if (s[i] < '0' || s[i] > '9') return -1;
      v = v * 10 + (s[i] - '0');
    }
    return v;
  };
  int y = num(0, 4), m = num(5, 2), d = num(8, 2);
  if (y < 0 || m < 0 || d < 0) return std::nullopt;
  chr::year_month_day ymd{chr::year(y), chr::month(static_cast<unsigned>(m)),
                          chr::day(static_cast<unsigned>(d))};
  if (!ymd.ok()) return std::nullopt;
  return ymd;
}

std::string show_day(chr::year_month_day d) {
  return fmt::format("{:04}-{:02}-{:02}", static_cast<int>(d.year()),
                     static_cast<unsigned>(d.month()), static_cast<unsigned>(d.day()));
}

std::string add_days(std::string_view day, int n) {
  auto d = parse_day(day);
  if (!d) return std::string(day);
  return show_day(chr::year_month_day(chr::sys_days(*d) + chr::days(n)));
}

period make_quarter(int year, int q) {
  unsigned first = static_cast<unsigned>(3 * (q - 1) + 1);
  chr::year_month_day from{chr::year(year), chr::month(first), chr::day(1)};
  auto last = chr::year_month_day_last(chr::year(year), chr::month_day_last(chr::month(first + 2)));
  return {show_day(from), show_day(chr::year_month_day(last)), fmt::format("{}-Q{}", year, q)};
}

}  // namespace

std::optional<period> parse_period(std::string_view text) {
  if (text.size() == 7 && text[4] == '-' && text[5] == 'Q' && text[6] >= '1' && text[6] <= '4') {
    int y = 0;
    for (int i = 0; i < 4; ++i) {
      if (text[i] < '0' || text[i] > '9') return std::nullopt;
      y = y * 10 + (text[i] - '0');
    }
    return make_quarter(y, text[6] - '0');
  }
  auto dots = text.find("..");
  if (dots == std::string_view::npos) return std::nullopt;
  auto from = text.substr(0, dots), to = text.substr(dots + 2);
  if (!parse_day(from) || !parse_day(to) || to < from) return std::nullopt;
  return period{std::string(from), std::string(to), fmt::format("{}..{}", from, to)};
}

period quarter_of(std::string_view day) {
  auto d = parse_day(day);
  if (!d) return {};
  return make_quarter(static_cast<int>(d->year()),
                      static_cast<int>((static_cast<unsigned>(d->month()) - 1) / 3 + 1));
}

period due_quarter(std::string_view today, std::uint32_t after_days) {
  // The quarter before the one that holds (today - after_days).
  auto q = quarter_of(add_days(today, -static_cast<int>(after_days)));
  return quarter_of(add_days(q.from, -1));
}

// ---- Counting ----

table count(const std::vector<placement_event>& placements,
            const std::vector<counted_event>& events, const period& p,
            const std::vector<exception_event>& exceptions) {
  oversight::placement_history history;
  for (const auto& e : placements) history.add(e);
  const auto timeline = history.timelines();

  std::map<std::string, std::set<std::string>> foster;  // county -> children
  std::set<std::string> foster_all;
  for (const auto& [child, eps] : timeline)
    for (const auto& ep : eps)
      if (!ep.county.empty() && ep.begin <= p.to && (ep.until.empty() || ep.until >= p.from)) {
        foster[ep.county].insert(child);
        foster_all.insert(child);
      }

  // County ("" = unknown) -> class -> children (by Medicaid id).
  std::map<std::string, std::map<std::string, std::set<std::string>>> cells;
  std::map<std::string, std::set<std::string>> by_class;
  for (const auto& e : events) {
    if (e.person.empty() || e.date < p.from || e.date > p.to) continue;
    auto county = history.county_on("", e.person, e.date);
    auto klass = e.klass.empty() ? std::string("UNSPECIFIED") : e.klass;
    cells[county][klass].insert(e.person);
    by_class[klass].insert(e.person);
  }

  // Alerts raised in the period and not resolved by its end: county ("" = unknown) -> outcome ->
  // children.
  std::set<std::string> resolved;
  for (const auto& e : exceptions)
    if (!e.resolves.empty() && !e.date.empty() && e.date <= p.to) resolved.insert(e.resolves);
  std::map<std::string, std::map<std::string, std::set<std::string>>> alert_cells;
  std::map<std::string, std::set<std::string>> by_outcome;
  for (const auto& e : exceptions) {
    if (!e.resolves.empty() || e.person.empty() || e.outcome.empty()) continue;
    if (e.date < p.from || e.date > p.to || resolved.count(e.notice)) continue;
    alert_cells[e.county][e.outcome].insert(e.person);
    by_outcome[e.outcome].insert(e.person);
  }

  table t;
  t.p = p;
  t.state.has_foster = true;
  t.state.foster.value = foster_all.size();
  for (const auto& [klass, people] : by_class)
    t.state.classes.push_back({klass, {people.size(), shown::value}});
  for (const auto& [outcome, people] : by_outcome)
    t.state.exceptions.push_back({outcome, {people.size(), shown::value}});
  std::set<std::string> counties;
  for (const auto& [county, _] : foster) counties.insert(county);
  for (const auto* m : {&cells, &alert_cells})
    for (const auto& [county, _] : *m)
      if (!county.empty()) counties.insert(county);
  auto row = [&](const std::string& county) {
    area a;
    a.county = county;
    a.unknown = county.empty();
    a.has_foster = !a.unknown;
    if (a.has_foster) {
      auto f = foster.find(county);
      a.foster.value = f == foster.end() ? 0 : f->second.size();
    }
    // One cell per category seen in the period (a class, or an alert's outcome).
    auto fill = [&](const auto& by_county, const auto& categories, std::vector<class_cell>& out) {
      auto cc = by_county.find(county);
      for (const auto& [category, _] : categories) {
        std::uint64_t n = 0;
        if (cc != by_county.end())
          if (auto k = cc->second.find(category); k != cc->second.end()) n = k->second.size();
        out.push_back({category, {n, shown::value}});
      }
    };
    fill(cells, by_class, a.classes);
    fill(alert_cells, by_outcome, a.exceptions);
    return a;
  };
  for (const auto& county : counties) t.counties.push_back(row(county));
  if (cells.count("") || alert_cells.count("")) t.counties.push_back(row(""));
  return t;
}

void suppress(table& t, std::uint32_t minimum) {
  t.minimum = minimum;
  std::vector<cell*> all;
  // Groups: a published total and the counts that add up to it.
  struct group {
    cell* total;
    std::vector<cell*> members;
  };
  std::vector<group> groups;
  group foster{&t.state.foster, {}};
  for (auto& a : t.counties)
    if (a.has_foster) foster.members.push_back(&a.foster);
  groups.push_back(foster);
  // A category's (class's, outcome's) statewide count and its counties' counts.
  for (auto cells : {&area::classes, &area::exceptions})
    for (std::size_t k = 0; k < (t.state.*cells).size(); ++k) {
      group g{&(t.state.*cells)[k].children, {}};
      for (auto& a : t.counties)
        if (k < (a.*cells).size()) g.members.push_back(&(a.*cells)[k].children);
      groups.push_back(g);
    }
  for (auto& g : groups) {
    all.push_back(g.total);
    all.insert(all.end(), g.members.begin(), g.members.end());
  }
  for (auto* c : all)
    if (c->value < minimum) c->state = shown::primary;
  // A group with exactly one hidden count gives it away (total minus the others, or the sum of
  // the members): hide the smallest shown member too, until no group has exactly one.
  for (bool changed = true; changed;) {
    changed = false;
    for (auto& g : groups) {
      if (g.members.empty()) continue;  // a total alone: nothing to subtract it from
      std::size_t hidden = g.total->state != shown::value;
      for (auto* m : g.members) hidden += m->state != shown::value;
      if (hidden != 1) continue;
      cell* smallest = nullptr;
      for (auto* m : g.members)
        if (m->state == shown::value && (!smallest || m->value < smallest->value)) smallest = m;
      if (!smallest && g.total->state == shown::value) smallest = g.total;
      if (!smallest) continue;
      smallest->state = shown::complementary;
      changed = true;
    }
  }
}

namespace {

void put_count(validation::checked_writer& w, std::string_view element, const cell& c) {
  w.open(fmt::format("ext:{}", element));
  if (c.state == shown::value)
    w.leaf("ext:ReportCountValue", std::to_string(c.value));
  else
    w.leaf("ext:ReportCountSuppressionCode",
           c.state == shown::primary ? "PRIMARY" : "COMPLEMENTARY");
  w.close();
}

void put_area(validation::checked_writer& w, std::string_view element, const area& a, bool state) {
  w.open(fmt::format("ext:{}", element));
  if (!state) {
    if (a.unknown)
      w.leaf("ext:CountyUnknownIndicator", "true");
    else
      w.leaf("ext:CountyFIPSCode", a.county);
  }
  if (a.has_foster) put_count(w, "FosterCareChildCount", a.foster);
  // Per category (a therapeutic class, an alert's outcome): its name and its count.
  auto categories = [&](const std::vector<class_cell>& cells, std::string_view wrapper,
                        std::string_view name, std::string_view count) {
    for (const auto& k : cells) {
      w.open(fmt::format("ext:{}", wrapper));
      w.leaf(fmt::format("ext:{}", name), k.klass);
      put_count(w, count, k.children);
      w.close();
    }
  };
  categories(a.classes, "TherapeuticClassStatistics", "DrugTherapeuticClassText",
             "PsychotropicFillChildCount");
  categories(a.exceptions, "MedicationExceptionStatistics", "MedicationExceptionCategoryCode",
             "UnresolvedExceptionChildCount");
  w.close();
}

std::string show(const cell& c) {
  if (c.state == shown::value) return std::to_string(c.value);
  return c.state == shown::primary ? "*" : "**";
}

std::string json_cell(const cell& c) {
  if (c.state == shown::value) return fmt::format("{{\"count\":{}}}", c.value);
  return fmt::format("{{\"suppressed\":\"{}\"}}",
                     c.state == shown::primary ? "primary" : "complementary");
}

}  // namespace

validation::qname document_root() {
  return {std::string(vocabulary::k_aggregate_report), "AggregateReport"};
}

std::string write_document(const table& t, std::string_view report_id,
                           std::string_view produced_date, const validation::schema_set* schemas,
                           std::vector<base::diagnostic>* problems) {
  validation::checked_writer w(schemas, {{"ar", std::string(vocabulary::k_aggregate_report)},
                                         {"ext", std::string(vocabulary::k_ext)},
                                         {"nc", std::string(vocabulary::k_nc)}});
  auto date = [&](std::string_view tag, std::string_view day) {
    w.open(tag);
    w.leaf("nc:Date", day);
    w.close();
  };
  w.open("ar:AggregateReport");
  w.open("ext:SourceRecordIdentification");
  w.leaf("nc:IdentificationID", report_id);
  w.close();
  w.open("ext:ReportAgreementIdentification");
  w.leaf("nc:IdentificationID", t.agreement);
  w.close();
  w.open("ext:ReportPeriod");
  date("nc:StartDate", t.p.from);
  date("nc:EndDate", t.p.to);
  w.close();
  date("ext:RecordedDate", produced_date);
  w.leaf("ext:ReportMinimumCount", std::to_string(t.minimum));
  put_area(w, "StatewideStatistics", t.state, true);
  for (const auto& a : t.counties) put_area(w, "CountyStatistics", a, false);
  w.close();
  if (problems) *problems = w.problems();
  return w.take();
}

std::string format_text(const table& t) {
  std::string out = fmt::format(
      "{} {} ({} to {}); counts below {} suppressed: * below the minimum, ** complementary\n",
      t.agreement, t.p.label, t.p.from, t.p.to, t.minimum);
  std::vector<std::string> head{"county", "in foster care"};
  for (const auto& k : t.state.classes) head.push_back(k.klass);
  for (const auto& k : t.state.exceptions) head.push_back("unresolved " + k.klass);
  std::vector<std::vector<std::string>> rows{head};
  auto add = [&](const area& a, std::string name) {
    std::vector<std::string> r{std::move(name), a.has_foster ? show(a.foster) : "-"};
    for (const auto& k : a.classes) r.push_back(show(k.children));
    for (const auto& k : a.exceptions) r.push_back(show(k.children));
    rows.push_back(std::move(r));
  };
  for (const auto& a : t.counties) add(a, a.unknown ? "unknown" : a.county);
  add(t.state, "state");
  std::vector<std::size_t> w(head.size(), 0);
  for (const auto& r : rows)
    for (std::size_t i = 0; i < r.size() && i < w.size(); ++i) w[i] = std::max(w[i], r[i].size());
  for (const auto& r : rows) {
    std::string line;
    for (std::size_t i = 0; i < r.size() && i < w.size(); ++i)
      line += i == 0 ? fmt::format("{:<{}}", r[i], w[i]) : fmt::format("  {:>{}}", r[i], w[i]);
    out += line + "\n";
  }
  return out;
}

std::string format_json(const table& t) {
  auto area_json = [](const area& a) {
    std::string s = "{";
    if (a.unknown)
      s += "\"county\":null,";
    else if (!a.county.empty())
      s += fmt::format("\"county\":\"{}\",", base::json_escape(a.county));
    if (a.has_foster) s += fmt::format("\"foster_care\":{},", json_cell(a.foster));
    s += "\"classes\":[";
    for (std::size_t i = 0; i < a.classes.size(); ++i)
      s += fmt::format("{}{{\"class\":\"{}\",\"children\":{}}}", i ? "," : "",
                       base::json_escape(a.classes[i].klass), json_cell(a.classes[i].children));
    s += "],\"unresolved_exceptions\":[";
    for (std::size_t i = 0; i < a.exceptions.size(); ++i)
      s += fmt::format("{}{{\"outcome\":\"{}\",\"children\":{}}}", i ? "," : "",
                       base::json_escape(a.exceptions[i].klass),
                       json_cell(a.exceptions[i].children));
    return s + "]}";
  };
  std::string out = fmt::format(
      "{{\"agreement\":\"{}\",\"period\":{{\"label\":\"{}\",\"from\":\"{}\",\"to\":\"{}\"}},"
      "\"minimum\":{},\"state\":{},\"counties\":[",
      base::json_escape(t.agreement), base::json_escape(t.p.label), t.p.from, t.p.to, t.minimum,
      area_json(t.state));
  for (std::size_t i = 0; i < t.counties.size(); ++i)
    out += (i ? "," : "") + area_json(t.counties[i]);
  return out + "]}\n";
}

base::result<table> build(store::queries& st, const routing::agreement& a, const period& p) {
  auto fail = [&](std::string msg) {
    base::diagnostic d;
    d.code = base::errc::config_invalid;
    d.where = a.file;
    d.message = std::move(msg);
    return std::vector<base::diagnostic>{d};
  };
  if (a.level != routing::sharing_level::aggregate || !a.report)
    return fail(fmt::format("agreement {} is not aggregate: it has no report", a.id));
  auto has = [](const routing::exchange_terms& t, std::string_view role) {
    return std::any_of(t.counts.begin(), t.counts.end(),
                       [&](const routing::count_field& c) { return c.role == role; });
  };
  std::vector<placement_event> placements;
  std::vector<counted_event> events;
  std::vector<exception_event> exceptions;
  for (const auto& t : a.exchanges) {
    bool is_exceptions = has(t, "outcome") && has(t, "notice");
    bool is_events = !is_exceptions && has(t, "date") && has(t, "class");
    bool is_placements = has(t, "county") && has(t, "begin");
    if (!is_events && !is_placements && !is_exceptions) continue;
    // Placements from their beginning (a child placed years ago is in care this quarter).
    auto rows = st.observations(a.id, t.exchange, is_placements ? "" : p.from, p.to);
    if (!rows) return rows.errors();
    for (const auto& r : *rows) {
      auto f = routing::decode_fields(r.fields);
      auto get = [&](std::string_view role) {
        for (const auto& [k, v] : f)
          if (k == role) return v;
        return std::string();
      };
      if (is_exceptions)
        exceptions.push_back({get("person"), get("date"), get("county"), get("outcome"),
                              get("notice"), get("resolves")});
      else if (is_events)
        events.push_back({get("person"), get("date"), get("class")});
      else
        placements.push_back({get("client"), get("person"), get("county"), get("placement"),
                              get("begin"), get("end")});
    }
  }
  auto t = count(placements, events, p, exceptions);
  t.observations = placements.size() + events.size() + exceptions.size();
  t.agreement = a.label();
  suppress(t, a.report->minimum_count);
  return t;
}

// ---- Production ----

struct scheduler::impl {
  scheduler_options opt;
  std::vector<std::shared_ptr<const routing::agreement>> agreements;
  store::queries& counts;       // what the reports count
  store::record_path& records;  // where a report is committed, as a record
  const base::clock& clk;
  std::function<void(std::vector<store::queue_entry>)> enqueued;
  std::shared_ptr<const validation::schema_set> schema;
  std::unique_ptr<validation::validator> validator;
  std::set<std::string> done;  // report keys already in the store
  std::mutex run_mu;           // one production at a time (the thread, or a caller)
  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;
  std::thread thread;

  impl(scheduler_options o, std::vector<std::shared_ptr<const routing::agreement>> all,
       store::queries& q, store::record_path& r, const base::clock& c,
       std::function<void(std::vector<store::queue_entry>)> e)
      : opt(std::move(o)), counts(q), records(r), clk(c), enqueued(std::move(e)) {
    keep(std::move(all));
  }

  // Only aggregate agreements produce reports.
  void keep(std::vector<std::shared_ptr<const routing::agreement>> all) {
    agreements.clear();
    for (auto& a : all)
      if (a->level == routing::sharing_level::aggregate && a->report)
        agreements.push_back(std::move(a));
  }

  bool ensure_schema() {
    if (validator) return true;
    if (!opt.schemas || !opt.schemas->model().element(document_root())) {
      base::log(base::log_level::error, "report", "no schema set declares the report's root",
                {{"code", base::code_id(base::errc::internal)}});
      return false;
    }
    schema = opt.schemas;
    validator = std::make_unique<validation::validator>(schema);
    return true;
  }

  // Produces one agreement's report for `p`; its label when queued.
  std::optional<std::string> produce(const routing::agreement& a, const period& p) {
    auto key = a.label() + "/" + p.label;
    if (done.count(key)) return std::nullopt;
    auto t = build(counts, a, p);
    if (!t) {
      for (const auto& d : t.errors())
        base::log(base::log_level::error, "report", "cannot build the report",
                  {{"agreement", a.label()}, {"period", p.label}, {"code", base::code_id(d.code)}});
      return std::nullopt;
    }
    if (t->observations == 0) return std::nullopt;  // nothing counted yet: no basis for zeros
    auto now = clk.now_ms();
    std::vector<base::diagnostic> problems;
    auto doc = write_document(*t, key, routing::utc_date(now), schema.get(), &problems);
    auto rep = validator->validate(doc, key);
    if (rep.valid != problems.empty())
      // The two validators ("Two validators" in docs/ARCHITECTURE.md) differ: a defect of one.
      base::log(base::log_level::error, "report", "the compiled checker and Xerces disagree",
                {{"agreement", a.label()},
                 {"period", p.label},
                 {"code", base::code_id(base::errc::xml_validators_disagree)}});
    if (!rep.valid || !problems.empty()) {
      // A bug here, never the data's fault: say so loudly, deliver nothing.
      base::log(base::log_level::error, "report", "the report is not schema-valid",
                {{"agreement", a.label()},
                 {"period", p.label},
                 {"code", base::code_id(base::errc::internal)}});
      return std::nullopt;
    }
    auto shared = std::make_shared<const std::string>(std::move(doc));
    store::record_outcome rec;
    rec.message_id = base::new_message_id(now);
    rec.agency = "broker";
    rec.record_type = "aggregate-report";
    rec.content_type = "application/xml";
    rec.received_ms = now;
    rec.mapped = true;
    rec.key = key;
    rec.exchange = "aggregate-report";
    rec.deliveries.push_back({a.recipient, shared, {}});
    store::audit_entry e;
    e.message_id = rec.message_id;
    e.record_key = key;
    for (const auto& pr : a.providers) e.provider += (e.provider.empty() ? "" : ",") + pr;
    e.exchange = rec.exchange;
    e.recipient = a.recipient;
    e.agreement = a.label();
    e.agreement_version = a.content_version;
    e.purpose = a.purposes.empty() ? std::string() : a.purposes.front();
    e.decision = "deliver";
    e.paths = "ext:StatewideStatistics ext:CountyStatistics";
    e.digest = base::sha256_hex(*shared);
    rec.audit.push_back(std::move(e));
    // The completion runs on the store's executor (the AMQP loop): wait for it, but give up if
    // the broker stops first (the key makes the next start see a committed report).
    auto committed = std::make_shared<std::promise<store::commit_result>>();
    auto fut = committed->get_future();
    records.commit_record(std::move(rec), [committed](store::commit_result cr) {
      committed->set_value(std::move(cr));
    });
    while (fut.wait_for(chr::milliseconds(100)) != std::future_status::ready) {
      std::lock_guard lk(mu);
      if (stopping) return std::nullopt;
    }
    auto cr = fut.get();
    switch (cr.what) {
      case store::commit_result::status::routed:
        done.insert(key);
        base::log(base::log_level::info, "report", "aggregate report queued",
                  {{"agreement", a.label()}, {"period", p.label}, {"agency", a.recipient}});
        if (enqueued) enqueued(std::move(cr.enqueued));
        return key;
      case store::commit_result::status::duplicate:
        done.insert(key);  // produced before (by this broker or an earlier run)
        return std::nullopt;
      default:
        base::log(base::log_level::error, "report", "cannot store the report",
                  {{"agreement", a.label()},
                   {"period", p.label},
                   {"code", base::code_id(base::errc::io_error)}});
        return std::nullopt;
    }
  }

  std::vector<std::string> run_once() {
    std::lock_guard lk(run_mu);
    std::vector<std::string> out;
    if (agreements.empty()) return out;
    // One broker of those sharing a store produces the reports (its key makes a second
    // production a duplicate anyway; this saves the others the work).
    if (!records.lead("reports")) return out;
    if (!ensure_schema()) return out;
    auto today = routing::utc_date(clk.now_ms());
    for (const auto& a : agreements) {
      if (std::find(opt.recipients.begin(), opt.recipients.end(), a->recipient) ==
          opt.recipients.end())
        continue;  // no queue for the recipient: nothing to deliver to
      auto p = due_quarter(today, a->report->after_days);
      // Only quarters the agreement covered, at least in part.
      if (!a->in_effect_during(p.from, p.to)) continue;
      if (auto k = produce(*a, p)) out.push_back(*k);
    }
    return out;
  }
};

scheduler::scheduler(scheduler_options opt,
                     std::vector<std::shared_ptr<const routing::agreement>> all,
                     store::queries& counts, store::record_path& records, const base::clock& clk,
                     std::function<void(std::vector<store::queue_entry>)> enqueued)
    : impl_(std::make_unique<impl>(std::move(opt), std::move(all), counts, records, clk,
                                   std::move(enqueued))) {}

void scheduler::set_agreements(std::vector<std::shared_ptr<const routing::agreement>> all,
                               std::vector<std::string> recipients) {
  std::lock_guard lk(impl_->run_mu);
  impl_->keep(std::move(all));
  impl_->opt.recipients = std::move(recipients);
}

scheduler::~scheduler() {
  stop();
}

void scheduler::start() {
  // Started without aggregate agreements too: a reload may bring one.
  if (impl_->thread.joinable()) return;
  impl_->thread = std::thread([this] {
    std::unique_lock lk(impl_->mu);
    impl_->cv.wait_for(lk, chr::milliseconds(impl_->opt.start_delay_ms),
                       [&] { return impl_->stopping; });
    while (!impl_->stopping) {
      lk.unlock();
      impl_->run_once();
      lk.lock();
      impl_->cv.wait_for(lk, chr::milliseconds(impl_->opt.check_ms),
                         [&] { return impl_->stopping; });
    }
  });
}

void scheduler::stop() {
  {
    std::lock_guard lk(impl_->mu);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  if (impl_->thread.joinable()) impl_->thread.join();
}

std::vector<std::string> scheduler::run_once() {
  return impl_->run_once();
}

}  // namespace niem::report
