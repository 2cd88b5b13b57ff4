# SPDX-License-Identifier: MIT
"""Re-exports Bazel's native Java rules (offline shim for Bazel 4.2.3)."""

java_binary = native.java_binary
java_import = native.java_import
java_library = native.java_library
java_plugin = native.java_plugin
java_test = native.java_test
java_toolchain = native.java_toolchain
java_runtime = native.java_runtime
java_package_configuration = native.java_package_configuration
java_proto_library = native.java_proto_library
