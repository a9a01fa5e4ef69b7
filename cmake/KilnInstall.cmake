# The installed package: libraries, public headers, tools and kilnConfig.cmake.
#
# Each folder's CMakeLists.txt names what it installs, one line a thing:
#   kiln_install_library(kiln_ir)        the library, exported as kiln::ir and part of kiln::kiln
#   kiln_install_headers(ir)             every .h under ir/, installed as include/kiln/ir/...
#   kiln_install_headers(backend FILES backend.h)   only these headers of backend/
#   kiln_install_tool(kiln-opt)          an executable, installed into bin/
# A library that an installed library links (even PRIVATE: the libraries are static) is
# installed with it by kiln_install_package, so that `cmake --install` can export the one that
# links it; kiln_install_library is still the place to say that a library is part of the API.
#
# Headers keep the paths kiln's own code includes them by ("ir/graph.h"), under include/kiln/;
# the exported include directories are include/ (for <kiln/kiln.h>) and include/kiln/ (for the
# includes inside the headers). That keeps every include in the tree as short as it is, and a
# user's code includes <kiln/kiln.h> only.

include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(KILN_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/kiln)
set(KILN_INCLUDE_DIR ${CMAKE_INSTALL_INCLUDEDIR}/kiln)

# The include directories of a kiln library: the source tree in the build, include/ and
# include/kiln/ once installed.
function(kiln_include_directories target)
  target_include_directories(${target} PUBLIC $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}> $<INSTALL_INTERFACE:${KILN_INCLUDE_DIR}>)
endfunction()

# Installs a library into the export set; kiln_ir is exported as kiln::ir.
function(kiln_install_library target)
  string(REGEX REPLACE "^kiln_" "" export_name ${target})
  set_target_properties(${target} PROPERTIES EXPORT_NAME ${export_name})
  install(TARGETS ${target} EXPORT kilnTargets ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
          LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
  set_property(GLOBAL APPEND PROPERTY KILN_INSTALLED_LIBRARIES ${target})
endfunction()

# Installs the headers of a folder of the source tree (relative to the root): every .h under it,
# or the FILES given (relative to that folder).
function(kiln_install_headers dir)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "" "FILES")
  if(arg_FILES)
    foreach(file ${arg_FILES})
      get_filename_component(sub ${file} DIRECTORY)
      install(FILES ${PROJECT_SOURCE_DIR}/${dir}/${file} DESTINATION ${KILN_INCLUDE_DIR}/${dir}/${sub})
    endforeach()
  else()
    install(DIRECTORY ${PROJECT_SOURCE_DIR}/${dir}/ DESTINATION ${KILN_INCLUDE_DIR}/${dir}
            FILES_MATCHING PATTERN "*.h")
  endif()
endfunction()

# Installs an executable into bin/.
function(kiln_install_tool target)
  install(TARGETS ${target} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endfunction()

# After every folder: kiln::kiln (every installed library), the export file and the config and
# version files.
function(kiln_install_package)
  get_property(libraries GLOBAL PROPERTY KILN_INSTALLED_LIBRARIES)
  # The kiln libraries that installed ones link, however deep: a static library's link
  # interface names them, so the export needs them.
  set(queue ${libraries})
  while(queue)
    list(POP_FRONT queue library)
    get_target_property(links ${library} LINK_LIBRARIES)
    foreach(link IN LISTS links)
      if(NOT TARGET ${link})
        continue()
      endif()
      get_target_property(aliased ${link} ALIASED_TARGET)
      if(aliased)
        set(link ${aliased})
      endif()
      get_target_property(imported ${link} IMPORTED)
      if(NOT imported AND NOT link IN_LIST libraries)
        kiln_install_library(${link})
        list(APPEND libraries ${link})
        list(APPEND queue ${link})
      endif()
    endforeach()
  endwhile()
  add_library(kiln_package INTERFACE)
  set_target_properties(kiln_package PROPERTIES EXPORT_NAME kiln)
  target_link_libraries(kiln_package INTERFACE ${libraries})
  add_library(kiln::kiln ALIAS kiln_package)
  install(TARGETS kiln_package EXPORT kilnTargets)
  install(EXPORT kilnTargets NAMESPACE kiln:: DESTINATION ${KILN_CMAKE_DIR})

  configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/kilnConfig.cmake.in
    ${PROJECT_BINARY_DIR}/kilnConfig.cmake INSTALL_DESTINATION ${KILN_CMAKE_DIR})
  # 0.x releases promise nothing across minor versions.
  write_basic_package_version_file(${PROJECT_BINARY_DIR}/kilnConfigVersion.cmake
    COMPATIBILITY SameMinorVersion)
  install(FILES ${PROJECT_BINARY_DIR}/kilnConfig.cmake ${PROJECT_BINARY_DIR}/kilnConfigVersion.cmake
          DESTINATION ${KILN_CMAKE_DIR})
  install(FILES ${PROJECT_SOURCE_DIR}/kiln/kiln.h ${PROJECT_SOURCE_DIR}/kiln/version.h
          DESTINATION ${KILN_INCLUDE_DIR})
endfunction()
