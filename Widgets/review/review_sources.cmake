# The viewer's GUI-free C code as library `qsmrim_review`. Included by Widgets/CMakeLists.txt and,
# when the viewer is not built (no VTK/Qt, sanitizer builds), by Testing/viewer so that this code
# is tested everywhere.
if(NOT TARGET qsmrim_review)
  file(GLOB QSMRIM_REVIEW_C CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/*.c)
  add_library(qsmrim_review STATIC ${QSMRIM_REVIEW_C})
  target_include_directories(qsmrim_review PUBLIC ${CMAKE_CURRENT_LIST_DIR})
  target_link_libraries(qsmrim_review PUBLIC qsmrim)
endif()
