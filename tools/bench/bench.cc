// niem-bench: throughput per record type on one thread of mapping alone, of convert with the
// compiled checker (validation "compiled"), of convert with Xerces' parse of the bytes ("full"),
// and of Xerces' validation alone of the same documents with the same hardened SAX2 validator,
// measured in the same run; and the process's peak RSS. The ratios are each convert's rate over
// mapping alone. Usage: niem-bench [--seconds S] [--repeat N] [--home DIR].
// Each figure is the median of N measurements, interleaved across the kinds, because this class
// of VM swings by a third from one second to the next.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "mapping/mapping.h"
#include "validation/validation.h"

namespace fs = std::filesystem;
using namespace niem;
using clk = std::chrono::steady_clock;

namespace {

struct sample {
  const mapping::compiled_mapping* m;
  std::string record;
};

std::vector<sample> load_examples(const mapping::mapping_library& lib) {
  std::vector<sample> out;
  for (const auto& m : lib.mappings()) {
    auto dir = fs::path(m->file()).parent_path() / "examples";
    for (auto& e : fs::directory_iterator(dir)) {
      std::ifstream in(e.path(), std::ios::binary);
      std::string line;
      bool first = true;
      while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (m->format() == mapping::record_format::delimited && first) {
          first = false;
          continue;
        }
        first = false;
        if (!line.empty()) out.push_back({m.get(), line});
      }
    }
  }
  return out;
}

long peak_rss_kb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

// Runs `fn(i)` over the inputs round-robin for at least `seconds`; returns operations per second.
template <typename F>
double rate(std::size_t n, double seconds, F&& fn) {
  std::size_t ops = 0;
  auto start = clk::now();
  double elapsed = 0;
  do {
    for (std::size_t i = 0; i < n; ++i) fn(i);
    ops += n;
    elapsed = std::chrono::duration<double>(clk::now() - start).count();
  } while (elapsed < seconds);
  return static_cast<double>(ops) / elapsed;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 3.0;
  int repeat = 3;
  std::string home = NIEM_DEFAULT_HOME;
  if (const char* h = std::getenv("NIEM_HOME")) home = h;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--seconds") && i + 1 < argc)
      seconds = std::atof(argv[++i]);
    else if (!std::strcmp(argv[i], "--repeat") && i + 1 < argc)
      repeat = std::max(1, std::atoi(argv[++i]));
    else if (!std::strcmp(argv[i], "--home") && i + 1 < argc)
      home = argv[++i];
    else {
      std::fprintf(stderr, "usage: niem-bench [--seconds S] [--repeat N] [--home DIR]\n");
      return 2;
    }
  }
  std::vector<std::string> files;
  for (auto& e : fs::recursive_directory_iterator(home + "/mappings"))
    if (e.path().filename() == "mapping.xml") files.push_back(e.path().string());
  auto t0 = clk::now();
  auto lib = mapping::mapping_library::load(files, home + "/schemas/mapping/mapping.xsd");
  if (!lib) {
    for (const auto& d : lib.errors()) std::fprintf(stderr, "%s\n", base::format(d).c_str());
    return 2;
  }
  double load_ms = std::chrono::duration<double, std::milli>(clk::now() - t0).count();
  auto samples = load_examples(*lib.value());
  mapping::converter conv(lib.value(), {}, {}, mapping::validation_mode::full);
  mapping::converter compiled(lib.value(), {}, {}, mapping::validation_mode::compiled);
  validation::validator val(lib.value()->schemas());

  std::map<std::string, std::vector<sample>> by_type;
  for (auto& s : samples) by_type[s.m->record_type()].push_back(s);

  std::printf(
      "schemas and mappings loaded in %.0f ms; %.1f s per measurement, median of %d, one "
      "thread\n\n",
      load_ms, seconds, repeat);
  std::printf("%-18s %8s %12s %12s %12s %12s %9s %9s %10s\n", "record type", "records",
              "map only/s", "compiled/s", "full/s", "validate/s", "compiled", "full", "doc bytes");
  // Not a structured binding: the lambdas below capture `recs` (clang 15 cannot capture one).
  for (auto& entry : by_type) {
    const auto& type = entry.first;
    auto& recs = entry.second;
    // The same documents for the validate-only baseline, produced (and checked) up front.
    std::vector<std::string> docs;
    std::size_t bytes = 0;
    for (auto& s : recs) {
      auto c = conv.convert(*s.m, s.record, "bench");
      if (!c) {
        std::fprintf(stderr, "example does not convert: %s\n", base::format(c.errors()[0]).c_str());
        return 1;
      }
      bytes += c->document.size();
      docs.push_back(std::move(c->document));
    }
    std::size_t failures = 0;
    std::vector<double> maps, compileds, fulls, validates;
    for (int r = 0; r < repeat; ++r) {
      maps.push_back(rate(recs.size(), seconds, [&](std::size_t i) {
        failures += !recs[i].m->map(recs[i].record, "bench").ok();
      }));
      compileds.push_back(rate(recs.size(), seconds, [&](std::size_t i) {
        failures += !compiled.convert(*recs[i].m, recs[i].record, "bench").ok();
      }));
      fulls.push_back(rate(recs.size(), seconds, [&](std::size_t i) {
        failures += !conv.convert(*recs[i].m, recs[i].record, "bench").ok();
      }));
      validates.push_back(rate(docs.size(), seconds, [&](std::size_t i) {
        failures += !val.validate(docs[i], "bench").valid;
      }));
    }
    const double map_only = median(maps), with_compiled = median(compileds), full = median(fulls),
                 validate_only = median(validates);
    if (failures) {
      std::fprintf(stderr, "%zu failures during measurement\n", failures);
      return 1;
    }
    std::printf("%-18s %8zu %12.0f %12.0f %12.0f %12.0f %9.3f %9.3f %10zu\n", type.c_str(),
                recs.size(), map_only, with_compiled, full, validate_only, with_compiled / map_only,
                full / map_only, bytes / docs.size());
  }
  std::printf("\npeak RSS: %.1f MB\n", peak_rss_kb() / 1024.0);
  return 0;
}
