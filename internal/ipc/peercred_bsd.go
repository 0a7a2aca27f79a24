//go:build darwin || freebsd

package ipc

import "golang.org/x/sys/unix"

// peerCredUID reads the peer's UID with LOCAL_PEERCRED (what getpeereid
// uses).
func peerCredUID(fd int) (uint32, bool) {
	cred, err := unix.GetsockoptXucred(fd, unix.SOL_LOCAL, unix.LOCAL_PEERCRED)
	if err != nil || cred == nil {
		return 0, false
	}
	return cred.Uid, true
}
