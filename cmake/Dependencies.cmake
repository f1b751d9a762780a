# Every third-party dependency comes from a Debian package; ./dev installs them.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(nlohmann_json 3.11 REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(fmt REQUIRED)
find_package(spdlog REQUIRED)
find_package(CLI11 REQUIRED)
find_package(CURL REQUIRED)
find_package(prometheus-cpp REQUIRED COMPONENTS core)
find_package(RapidJSON REQUIRED)
find_package(ICU REQUIRED COMPONENTS uc)

pkg_check_modules(RDKAFKA REQUIRED IMPORTED_TARGET rdkafka)
pkg_check_modules(LIBPQ REQUIRED IMPORTED_TARGET libpq)
pkg_check_modules(LIBPQXX REQUIRED IMPORTED_TARGET libpqxx)
pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)

if(DATAREFRESH_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
if(DATAREFRESH_BUILD_BENCH)
  find_package(benchmark REQUIRED)
endif()

# Header-only libraries without a CMake package: mark their headers SYSTEM.
add_library(datarefresh_rapidjson INTERFACE)
target_include_directories(datarefresh_rapidjson SYSTEM INTERFACE ${RAPIDJSON_INCLUDE_DIRS})
add_library(datarefresh::rapidjson ALIAS datarefresh_rapidjson)
# rapidjson's SSE2 scanning (whitespace, unescaped string runs when parsing null-terminated text and
# when writing): SSE2 is part of x86-64 itself. Set for every target so that all translation units
# see the same rapidjson. Not under the sanitizers: the aligned 16-byte loads may read past the
# terminator within the same block, which AddressSanitizer reports.
if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$" AND NOT DATAREFRESH_SANITIZE)
  add_compile_definitions(RAPIDJSON_SSE2)
endif()

find_path(VALIJSON_INCLUDE_DIR valijson/validator.hpp REQUIRED)
add_library(datarefresh_valijson INTERFACE)
target_include_directories(datarefresh_valijson SYSTEM INTERFACE ${VALIJSON_INCLUDE_DIR})
add_library(datarefresh::valijson ALIAS datarefresh_valijson)
