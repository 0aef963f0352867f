# The one cpprestsdk user: cpprest_transport.cc (the HTTPS client transport and the small HTTP
# server for health, readiness and metrics). It is a target of its own so that nothing else
# links, or can include, cpprestsdk. Included from operator/kube/CMakeLists.txt.
#
# cpprestsdk's exported targets link neither OpenSSL nor Boost for their users, and the
# Boost.Asio TLS code used here is header-only on top of OpenSSL: link OpenSSL ourselves.
find_package(cpprestsdk CONFIG REQUIRED)
find_package(OpenSSL REQUIRED)

add_library(bursar_kube_cpprest STATIC ${CMAKE_CURRENT_LIST_DIR}/cpprest_transport.cc)
target_link_libraries(bursar_kube_cpprest
  PUBLIC bursar_kube absl::status absl::statusor absl::strings absl::time absl::synchronization
  PRIVATE cpprestsdk::cpprest OpenSSL::SSL OpenSSL::Crypto)
