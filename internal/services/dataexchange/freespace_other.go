//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package dataexchange

import "errors"

// errUnsupported means free space cannot be measured on this platform.
var errUnsupported = errors.New("free space: unsupported")

// freeBytes cannot measure free space here; the disk-full check is skipped.
func freeBytes(string) (uint64, error) { return 0, errUnsupported }
