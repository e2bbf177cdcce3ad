# FLEETSIM_SANITIZE and FLEETSIM_FUZZ: one clang build tree (build-asan in CI) that runs the whole test suite under
# AddressSanitizer + UndefinedBehaviorSanitizer and builds the libFuzzer targets in fuzz/. See docs/TESTING.md.
#
# Everything fleetsim compiles (libraries, fleetsim, tests, fuzz targets) gets the same flags; SimGrid, Lua, GTest
# and the C++ runtime are Debian's, uninstrumented. Any report ends the process (-fno-sanitize-recover, and the
# options below, compiled into every executable), so a report fails its test.

if(FLEETSIM_FUZZ AND NOT FLEETSIM_SANITIZE)
  message(FATAL_ERROR "FLEETSIM_FUZZ=ON needs FLEETSIM_SANITIZE=ON (a fuzzer without ASan finds only crashes)")
endif()
if((FLEETSIM_SANITIZE OR FLEETSIM_FUZZ) AND NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR "FLEETSIM_SANITIZE/FLEETSIM_FUZZ are for clang (Debian: clang, libclang-rt-14-dev, "
                      "libfuzzer-14-dev): configure with -DCMAKE_CXX_COMPILER=clang++")
endif()

if(FLEETSIM_SANITIZE)
  # _GLIBCXX_ASSERTIONS: libstdc++'s own checks (vector::operator[] in bounds, front() of an empty container...), and
  # std::string's members compiled here rather than called in libstdc++.so, so that ASan's fast unwinder (frame
  # pointers) sees the whole stack of a string allocation: leak reports name the fleetsim function, and
  # fuzz/sanitizers/lsan.supp can match it.
  set(FLEETSIM_SANITIZER_FLAGS -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
                               -D_GLIBCXX_ASSERTIONS)
  add_compile_options(${FLEETSIM_SANITIZER_FLAGS})
  add_link_options(-fsanitize=address,undefined)
endif()
if(FLEETSIM_FUZZ)
  # Coverage instrumentation for libFuzzer in every library; only the fuzz targets link libFuzzer's main
  # (-fsanitize=fuzzer, fuzz/CMakeLists.txt). Test binaries get the same instrumentation, which the ASan runtime
  # serves with no-op callbacks: one tree for both.
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()

# What every executable of the tree runs with (compiled in: fuzz/sanitizers/defaults.cpp.in; docs/TESTING.md):
#   halt_on_error, abort_on_error      the first report ends the process with SIGABRT, so its test fails
#   detect_leaks                       LeakSanitizer at exit (suppressions: fuzz/sanitizers/lsan.supp)
#   detect_stack_use_after_return=0    SimGrid switches its actors' stacks behind ASan's back
#   check_initialization_order         static initialisation order fiasco across translation units
set(FLEETSIM_ASAN_OPTIONS
    "halt_on_error=1:abort_on_error=1:detect_leaks=1:detect_stack_use_after_return=0:check_initialization_order=1:strict_init_order=1")
set(FLEETSIM_UBSAN_OPTIONS "halt_on_error=1:abort_on_error=1:print_stacktrace=1")
set(FLEETSIM_LSAN_OPTIONS "suppressions=${PROJECT_SOURCE_DIR}/fuzz/sanitizers/lsan.supp:print_suppressions=0")

# fleetsim_sanitize_executable(target): adds the default options above to an executable (fleetsim_target_options
# calls it for every executable target).
function(fleetsim_sanitize_executable target)
  if(FLEETSIM_SANITIZE)
    configure_file(${PROJECT_SOURCE_DIR}/fuzz/sanitizers/defaults.cpp.in ${PROJECT_BINARY_DIR}/sanitizer_defaults.cpp
                   @ONLY)
    target_sources(${target} PRIVATE ${PROJECT_BINARY_DIR}/sanitizer_defaults.cpp)
  endif()
endfunction()
