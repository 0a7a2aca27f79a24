//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package dataexchange

import (
	"errors"
	"syscall"
)

// errUnsupported means free space cannot be measured on this platform.
var errUnsupported = errors.New("free space: unsupported")

// freeBytes returns the bytes available to unprivileged users on the file
// system holding dir.
func freeBytes(dir string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return uint64(st.Bavail) * uint64(st.Bsize), nil
}
