#pragma once
// Where the tests find the project's files, the shared reference material and the throwaway
// PostgreSQL cluster. Force-included in every test source (CMakeLists.txt, niem_test_main): the
// paths are compiled once, into test_paths.cc generated at configure time, so that no test
// object's command line holds a path of the checkout and a clean clone elsewhere reuses every
// test object from the compiler cache.
namespace niem::test_paths {
const char* source_root();
const char* shared_dir();
const char* pg_state();
}  // namespace niem::test_paths

#define NIEM_SOURCE_ROOT (::niem::test_paths::source_root())
#define NIEM_SHARED_DIR (::niem::test_paths::shared_dir())
#define NIEM_TEST_PG_STATE (::niem::test_paths::pg_state())
