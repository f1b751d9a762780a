# Project-wide target helpers: warnings as errors on our own code only, sanitizers, test registration.

set(DATAREFRESH_WARNINGS -Wall -Wextra -Wpedantic -Werror -Wno-missing-field-initializers)

if(DATAREFRESH_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

# datarefresh_library(<name> SOURCES ... [PUBLIC_DEPS ...] [PRIVATE_DEPS ...])
# Creates datarefresh_<name> with the alias datarefresh::<name>; includes are quoted from the repo root.
function(datarefresh_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(datarefresh_${name} STATIC ${ARG_SOURCES})
  add_library(datarefresh::${name} ALIAS datarefresh_${name})
  target_include_directories(datarefresh_${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_compile_options(datarefresh_${name} PRIVATE ${DATAREFRESH_WARNINGS})
  target_link_libraries(datarefresh_${name} PUBLIC ${ARG_PUBLIC_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
endfunction()

# datarefresh_test(<name> LABELS unit|integration|e2e|fault SOURCES ... DEPS ... [TIMEOUT s])
# Builds one GoogleTest executable and registers it with ctest under its labels.
function(datarefresh_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_compile_options(${name} PRIVATE ${DATAREFRESH_WARNINGS})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  add_test(NAME ${name} COMMAND ${name} --gtest_color=no)
  set_tests_properties(${name} PROPERTIES
    LABELS "${ARG_LABELS}"
    TIMEOUT ${ARG_TIMEOUT}
    ENVIRONMENT "DATAREFRESH_SOURCE_DIR=${PROJECT_SOURCE_DIR};DATAREFRESH_BINARY=$<TARGET_FILE:datarefresh>")
endfunction()
