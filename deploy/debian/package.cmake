# The Debian package (`cpack -G DEB` in a build directory; the release preset's is what ships):
# binaries in /usr/bin, the project's files in /usr/share/niem-broker (the layout the binaries
# find beside them, base/home.h), the configuration in /etc/niem-broker (conffiles), the systemd
# unit. Included from the top-level CMakeLists.txt.
set(NIEM_SHARE share/niem-broker)

install(TARGETS niem-broker niemctl niem-map niem-dsa niem-batch-adapter niem-http-adapter
        RUNTIME DESTINATION bin)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/schemas ${PROJECT_SOURCE_DIR}/mappings
        DESTINATION ${NIEM_SHARE})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/broker/admin/static DESTINATION ${NIEM_SHARE}/broker/admin)
install(FILES ${PROJECT_SOURCE_DIR}/deploy/prometheus/alerts.yml
              ${PROJECT_SOURCE_DIR}/deploy/prometheus/alerts_test.yml
        DESTINATION ${NIEM_SHARE}/prometheus)
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/docs/ARCHITECTURE.md
              ${PROJECT_SOURCE_DIR}/docs/ERRORS.md ${PROJECT_SOURCE_DIR}/docs/ADMIN-API.md
              ${PROJECT_SOURCE_DIR}/docs/RUNBOOK-HA.md ${PROJECT_SOURCE_DIR}/docs/MAPPING-LANGUAGE.md
        DESTINATION share/doc/niem-broker)

# The configuration: config/production.xml with its paths made those of the installed layout
# (relative to /etc/niem-broker, so that a package unpacked under another root works there too),
# generated rather than kept as a second copy.
file(READ ${PROJECT_SOURCE_DIR}/config/production.xml niem_config)
string(REPLACE "../var/certs/" "certs/" niem_config "${niem_config}")
string(REPLACE "<schemas home=\"..\"/>" "<schemas home=\"../../usr/share/niem-broker\"/>"
       niem_config "${niem_config}")
string(REPLACE "\"../mappings/" "\"../../usr/share/niem-broker/mappings/" niem_config
       "${niem_config}")
string(REPLACE "<!-- Production example:" "<!-- Installed by the niem-broker package from config/production.xml. Put the broker's certificate and key, the CA, the audit key, the admin tokens and the research pseudonym key in /etc/niem-broker/certs (readable by group niem), then: systemctl start niem-broker.
     Production example:" niem_config "${niem_config}")
foreach(p "../var" "home=\"..\"" "\"../mappings")
  string(FIND "${niem_config}" "${p}" at)
  if(NOT at EQUAL -1)
    message(FATAL_ERROR "config/production.xml: '${p}' is left in the packaged configuration")
  endif()
endforeach()
file(WRITE ${CMAKE_BINARY_DIR}/package/niem-broker.xml "${niem_config}")
install(FILES ${CMAKE_BINARY_DIR}/package/niem-broker.xml DESTINATION /etc/niem-broker)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/config/agreements DESTINATION /etc/niem-broker)
install(FILES ${PROJECT_SOURCE_DIR}/deploy/debian/niem-broker.service
        DESTINATION /lib/systemd/system)

# Every file under /etc is a conffile: an upgrade keeps the operator's changes.
file(GLOB niem_agreements RELATIVE ${PROJECT_SOURCE_DIR}/config/agreements
     ${PROJECT_SOURCE_DIR}/config/agreements/*.xml)
set(niem_conffiles "/etc/niem-broker/niem-broker.xml\n")
foreach(a ${niem_agreements})
  string(APPEND niem_conffiles "/etc/niem-broker/agreements/${a}\n")
endforeach()
file(WRITE ${CMAKE_BINARY_DIR}/package/conffiles "${niem_conffiles}")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME niem-broker)
set(CPACK_PACKAGE_VENDOR "niem-broker")
set(CPACK_PACKAGE_CONTACT "niem-broker maintainers <niem-broker@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "NIEM XML message broker and translator for child welfare and Medicaid agencies")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # niem-broker_VERSION_amd64.deb
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)  # Depends from the binaries' libraries (dpkg-shlibdeps)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "postgresql-15, prometheus")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_BINARY_DIR}/package/conffiles ${PROJECT_SOURCE_DIR}/deploy/debian/postinst
    ${PROJECT_SOURCE_DIR}/deploy/debian/prerm ${PROJECT_SOURCE_DIR}/deploy/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_STRIP_FILES ON)
include(CPack)
