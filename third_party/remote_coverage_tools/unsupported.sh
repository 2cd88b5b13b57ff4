#!/bin/sh
# SPDX-License-Identifier: MIT
echo "coverage is not supported in the offline irqvirt build" >&2
exit 1
