#!/bin/sh
echo "coverage is not supported in the offline irqvirt build" >&2
exit 1
