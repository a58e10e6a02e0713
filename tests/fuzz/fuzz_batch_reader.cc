// The batch adapter's readers on any file: NDJSON and MMIS extract, and the checkpoint file.
// Checked beyond "no crash": line numbers and offsets only grow, no record is blank, and a run
// resumed from any record's checkpoint reads exactly the records that followed it.
#include <cstdint>
#include <vector>

#include "batch/batch.h"
#include "fuzz_support.h"

using namespace niem;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auto file = (fuzz::scratch_dir() / "input.txt").string();
  fuzz::write_file(file, {reinterpret_cast<const char*>(data), size});
  for (auto f : {adapters::file_format::ndjson, adapters::file_format::mmis}) {
    adapters::record_reader r(file, f);
    if (!r.ok()) continue;
    std::vector<adapters::file_record> all;
    while (auto rec = r.next()) {
      if (!all.empty() &&
          (rec->line <= all.back().line || rec->end_offset <= all.back().end_offset))
        fuzz::defect("line numbers or offsets went backwards");
      if (rec->end_offset > size) fuzz::defect("an offset beyond the end of the file");
      auto own = f == adapters::file_format::mmis
                     ? std::string_view(rec->body).substr(r.header().size() + 1)
                     : std::string_view(rec->body);
      if (own.find_first_not_of(" \t\r") == std::string_view::npos) fuzz::defect("a blank record");
      all.push_back(std::move(*rec));
      if (all.size() > size + 1) fuzz::defect("more records than bytes");
    }
    for (std::size_t i = 0; i < all.size(); i += 1 + all.size() / 4) {
      adapters::record_reader again(file, f);
      if (!again.seek(all[i].end_offset, all[i].line))
        fuzz::defect("a checkpoint that cannot seek");
      for (std::size_t j = i + 1; j < all.size(); ++j) {
        auto rec = again.next();
        if (!rec || rec->line != all[j].line || rec->body != all[j].body ||
            rec->end_offset != all[j].end_offset)
          fuzz::defect("a resumed run reads other records than the first run");
      }
      if (again.next()) fuzz::defect("a resumed run reads more records than the first run");
    }
  }
  std::string error;
  auto cp = adapters::load_checkpoint(file, error);
  if (!cp && error.empty() && size > 0 && std::filesystem::exists(file))
    fuzz::defect("an existing checkpoint file read as absent, without an error");
  return 0;
}
