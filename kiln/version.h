#pragma once
// kiln's version, the one source of it: CMake's project version, the package's version file,
// `kiln --version` and the version checkpoints record are read from these two lines.

/// The major version: programs written against one major version build against its later minors.
#define KILN_VERSION_MAJOR 0
/// The minor version (while the major version is 0, each minor may change the API).
#define KILN_VERSION_MINOR 1

#define KILN_VERSION_STRINGIFY_(x) #x
#define KILN_VERSION_STRINGIFY(x) KILN_VERSION_STRINGIFY_(x)
/// "MAJOR.MINOR", as a string literal: "0.1".
#define KILN_VERSION_STRING                                                                        \
  KILN_VERSION_STRINGIFY(KILN_VERSION_MAJOR) "." KILN_VERSION_STRINGIFY(KILN_VERSION_MINOR)
