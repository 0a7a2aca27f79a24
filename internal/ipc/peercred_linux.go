package ipc

import "golang.org/x/sys/unix"

// peerCredUID reads the peer's UID with SO_PEERCRED.
func peerCredUID(fd int) (uint32, bool) {
	cred, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil || cred == nil {
		return 0, false
	}
	return cred.Uid, true
}
