// A test harness in plain C++17 for the native unit tests: TEST registers a
// case, CHECK and CHECK_EQ report a failed check (file, line, values) and go
// on. run_all() prints one line per failed check and "N passed, M failed",
// and returns the exit code (0 only if all passed).
#pragma once

#include <cstdio>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace nsnet::test {

struct Case {
  const char* name;
  void (*fn)();
};
inline std::vector<Case>& cases() {
  static std::vector<Case> v;
  return v;
}
struct Register {
  Register(const char* name, void (*fn)()) { cases().push_back({name, fn}); }
};

inline const char* g_case = "";
inline int g_case_failures = 0;

inline void fail(const char* file, int line, const std::string& what) {
  std::printf("FAIL %s (%s:%d): %s\n", g_case, file, line, what.c_str());
  g_case_failures++;
}

template <class T>
std::string show(const T& v) {
  if constexpr (std::is_same_v<T, bool>) {
    return v ? "true" : "false";
  } else if constexpr (std::is_enum_v<T>) {
    return std::to_string(static_cast<long long>(v));
  } else if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
    return std::to_string(static_cast<long long>(v));
  } else if constexpr (std::is_integral_v<T>) {
    return std::to_string(static_cast<unsigned long long>(v));
  } else if constexpr (std::is_convertible_v<T, std::string_view>) {
    return "\"" + std::string(std::string_view(v)) + "\"";
  } else {
    return "?";
  }
}

inline int run_all() {
  int passed = 0, failed = 0;
  for (const Case& c : cases()) {
    g_case = c.name;
    g_case_failures = 0;
    c.fn();
    if (g_case_failures) {
      failed++;
    } else {
      passed++;
    }
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}

}  // namespace nsnet::test

#define TEST(name)                                                 \
  static void name();                                              \
  static const nsnet::test::Register register_##name(#name, name); \
  static void name()

#define CHECK(cond)                                                \
  do {                                                             \
    if (!(cond)) nsnet::test::fail(__FILE__, __LINE__, #cond);     \
  } while (0)

#define CHECK_EQ(a, b)                                                                                  \
  do {                                                                                                  \
    const auto check_a_ = (a);                                                                          \
    const auto check_b_ = (b);                                                                          \
    if (!(check_a_ == check_b_))                                                                        \
      nsnet::test::fail(__FILE__, __LINE__,                                                             \
                        std::string(#a " == " #b " (") + nsnet::test::show(check_a_) + " vs " +          \
                            nsnet::test::show(check_b_) + ")");                                         \
  } while (0)
