# Helpers that keep each folder's CMakeLists a list of declarations.

set(FLEETSIM_WARNINGS -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast -Wcast-align
    -Wunused -Woverloaded-virtual -Wdouble-promotion -Wformat=2 -Wimplicit-fallthrough)

function(fleetsim_target_options target)
  target_compile_options(${target} PRIVATE ${FLEETSIM_WARNINGS})
  if(FLEETSIM_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
  get_target_property(type ${target} TYPE)
  if(type STREQUAL "EXECUTABLE")
    fleetsim_sanitize_executable(${target})  # FleetsimSanitizers.cmake; nothing unless FLEETSIM_SANITIZE
  endif()
endfunction()

# fleetsim_add_library(NAME name SRCS ... DEPS ... [PRIVATE_DEPS ...])
# Creates fleetsim_<name> with the alias fleetsim::<name>; public headers live in <folder>/include.
function(fleetsim_add_library)
  cmake_parse_arguments(ARG "" "NAME" "SRCS;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(fleetsim_${ARG_NAME} STATIC ${ARG_SRCS})
  add_library(fleetsim::${ARG_NAME} ALIAS fleetsim_${ARG_NAME})
  target_include_directories(fleetsim_${ARG_NAME} PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include
                                                   PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
  target_link_libraries(fleetsim_${ARG_NAME} PUBLIC ${ARG_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
  fleetsim_target_options(fleetsim_${ARG_NAME})
endfunction()

# fleetsim_add_test(NAME name SRCS ... DEPS ... LABELS ... [SERIAL])
# SERIAL: each of its tests runs alone (ctest RUN_SERIAL), for tests whose wall-clock timing is what they check.
function(fleetsim_add_test)
  cmake_parse_arguments(ARG "SERIAL" "NAME" "SRCS;DEPS;LABELS" ${ARGN})
  add_executable(${ARG_NAME} ${ARG_SRCS})
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main)
  fleetsim_target_options(${ARG_NAME})
  include(GoogleTest)
  if(ARG_SERIAL)
    gtest_discover_tests(${ARG_NAME} PROPERTIES LABELS "${ARG_LABELS}" RUN_SERIAL TRUE DISCOVERY_TIMEOUT 60)
  else()
    gtest_discover_tests(${ARG_NAME} PROPERTIES LABELS "${ARG_LABELS}" DISCOVERY_TIMEOUT 60)
  endif()
endfunction()

# Fails the configure step if a library's link interface names a forbidden dependency.
# agents/ is the code under test and must never link SimGrid or Asio (docs/ARCHITECTURE.md).
function(fleetsim_forbid_dependency target pattern)
  foreach(prop LINK_LIBRARIES INTERFACE_LINK_LIBRARIES)
    get_target_property(libs ${target} ${prop})
    if(libs)
      foreach(lib IN LISTS libs)
        if(lib MATCHES "${pattern}")
          message(FATAL_ERROR "${target} must not depend on '${lib}' (forbidden: ${pattern}); "
                              "see docs/ARCHITECTURE.md: the agents are sans-IO")
        endif()
      endforeach()
    endif()
  endforeach()
endfunction()

# Writes the linker's map of an executable beside it (<file>.map): which archive member each input section came
# from. tests/tools/check_one_agents_library.py reads it to show that both runtimes link the one agents library.
function(fleetsim_link_map target)
  target_link_options(${target} PRIVATE "LINKER:-Map=$<TARGET_FILE_DIR:${target}>/${target}.map")
endfunction()
