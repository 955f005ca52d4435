# otlpmetricConfig.cmake: the CMake package of otlpmetric, installed by
# scripts/install.sh as <prefix>/lib/cmake/otlpmetric/otlpmetricConfig.cmake.
#
#   find_package(otlpmetric 0.1 REQUIRED)           # CMAKE_PREFIX_PATH=<prefix> if not in a system prefix
#   target_link_libraries(app PRIVATE otlpmetric::otlpmetric)         # libotlpmetric.so
#   target_link_libraries(app PRIVATE otlpmetric::otlpmetric_static)  # libotlpmetric.a (+ pthread, dl, m)
#
# Both targets carry the include directory (otlpmetric.h for C, otlpmetric.hpp for C++17).
# Paths are relative to this file, so the installed prefix can be moved.

get_filename_component(_otlpmetric_prefix "${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)
set(_otlpmetric_libdir "${_otlpmetric_prefix}/lib")
set(_otlpmetric_includedir "${_otlpmetric_prefix}/include")

foreach(_otlpmetric_file "${_otlpmetric_libdir}/libotlpmetric.so" "${_otlpmetric_includedir}/otlpmetric.h")
  if(NOT EXISTS "${_otlpmetric_file}")
    set(otlpmetric_FOUND FALSE)
    set(otlpmetric_NOT_FOUND_MESSAGE "otlpmetric: ${_otlpmetric_file} is missing (reinstall with scripts/install.sh)")
    unset(_otlpmetric_file)
    unset(_otlpmetric_prefix)
    unset(_otlpmetric_libdir)
    unset(_otlpmetric_includedir)
    return()
  endif()
endforeach()
unset(_otlpmetric_file)

if(NOT TARGET otlpmetric::otlpmetric)
  add_library(otlpmetric::otlpmetric SHARED IMPORTED)
  set_target_properties(otlpmetric::otlpmetric PROPERTIES
    IMPORTED_LOCATION "${_otlpmetric_libdir}/libotlpmetric.so"
    IMPORTED_SONAME "libotlpmetric.so.@VERSION_MAJOR@"
    INTERFACE_INCLUDE_DIRECTORIES "${_otlpmetric_includedir}")
endif()

if(NOT TARGET otlpmetric::otlpmetric_static AND EXISTS "${_otlpmetric_libdir}/libotlpmetric.a")
  include(CMakeFindDependencyMacro)
  find_dependency(Threads)
  add_library(otlpmetric::otlpmetric_static STATIC IMPORTED)
  set_target_properties(otlpmetric::otlpmetric_static PROPERTIES
    IMPORTED_LOCATION "${_otlpmetric_libdir}/libotlpmetric.a"
    IMPORTED_LINK_INTERFACE_LANGUAGES "C"
    INTERFACE_INCLUDE_DIRECTORIES "${_otlpmetric_includedir}"
    # What the Rust standard library needs from the system (pkg-config's Libs.private).
    INTERFACE_LINK_LIBRARIES "Threads::Threads;${CMAKE_DL_LIBS};m")
endif()

set(otlpmetric_INCLUDE_DIRS "${_otlpmetric_includedir}")
set(otlpmetric_LIBRARIES otlpmetric::otlpmetric)
unset(_otlpmetric_prefix)
unset(_otlpmetric_libdir)
unset(_otlpmetric_includedir)
