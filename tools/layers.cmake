# bursar_check_layers(): fails the configure step when a bursar_* target links a target of a
# layer that tools/layers.txt does not let it use, and adds the `check_layers` build step (part
# of ALL) that runs tools/check-layers.py over every #include line whenever a source changes.
function(bursar_check_layers)
  file(STRINGS ${PROJECT_SOURCE_DIR}/tools/layers.txt lines REGEX "^[a-z]")
  # First pass: which folder each target belongs to.
  foreach(line IN LISTS lines)
    string(REGEX REPLACE "[ \t]+" ";" fields "${line}")
    list(GET fields 0 folder)
    list(GET fields 1 targets)
    string(REPLACE "," ";" targets "${targets}")
    foreach(target IN LISTS targets)
      set(folder_of_${target} ${folder})
    endforeach()
  endforeach()
  # Second pass: every link to another layer's target must be to an allowed folder.
  foreach(line IN LISTS lines)
    string(REGEX REPLACE "[ \t]+" ";" fields "${line}")
    list(GET fields 0 folder)
    list(GET fields 1 targets)
    set(uses "")
    list(LENGTH fields field_count)
    if(field_count GREATER 2)
      list(SUBLIST fields 2 -1 uses)
    endif()
    string(REPLACE "," ";" targets "${targets}")
    foreach(target IN LISTS targets)
      if(NOT TARGET ${target})
        message(FATAL_ERROR "tools/layers.txt names ${target}, which no CMakeLists.txt defines")
      endif()
      get_target_property(links ${target} LINK_LIBRARIES)
      foreach(link IN LISTS links)
        if(NOT link MATCHES "^bursar_" OR link STREQUAL "bursar_proto")
          continue()
        endif()
        set(dep_folder "${folder_of_${link}}")
        if(dep_folder STREQUAL "")
          message(FATAL_ERROR "${target} links ${link}, which tools/layers.txt does not place in a layer")
        endif()
        if(NOT dep_folder STREQUAL folder AND NOT dep_folder IN_LIST uses)
          list(JOIN uses ", " allowed)
          message(FATAL_ERROR "${target} (${folder}) links ${link} (${dep_folder}): "
                              "tools/layers.txt lets ${folder} use only: ${allowed}")
        endif()
      endforeach()
    endforeach()
  endforeach()

  find_package(Python3 REQUIRED COMPONENTS Interpreter)
  file(GLOB_RECURSE layered_sources CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/controllers/*.h
       ${PROJECT_SOURCE_DIR}/controllers/*.cc ${PROJECT_SOURCE_DIR}/operator/*.h
       ${PROJECT_SOURCE_DIR}/operator/*.cc)
  set(stamp ${PROJECT_BINARY_DIR}/check-layers.stamp)
  add_custom_command(
    OUTPUT ${stamp}
    COMMAND Python3::Interpreter ${PROJECT_SOURCE_DIR}/tools/check-layers.py ${PROJECT_SOURCE_DIR}
            --stamp ${stamp}
    DEPENDS ${layered_sources} ${PROJECT_SOURCE_DIR}/tools/layers.txt
            ${PROJECT_SOURCE_DIR}/tools/check-layers.py
    COMMENT "Checking the #include lines against tools/layers.txt"
    VERBATIM)
  add_custom_target(check_layers ALL DEPENDS ${stamp})
endfunction()
