package ipc

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Errors of socket creation (ipc.md §1).
var (
	// ErrAnotherDaemon: a live socket already answers at the path.
	ErrAnotherDaemon = errors.New("another daemon is listening")
	// ErrNotSocket: something other than a socket exists at the path.
	ErrNotSocket = errors.New("path exists and is not a socket")
)

// umaskMu serialises the process-wide umask change around socket creation.
var umaskMu sync.Mutex

// staleProbeTimeout bounds the connection attempt that tells a live socket
// from a stale one.
const staleProbeTimeout = time.Second

// listenSocket creates the daemon's socket at path per ipc.md §1: missing
// parent directories get mode 0700; a non-socket at the path is an error
// and is never deleted; a socket that accepts a connection means another
// daemon (error); one that refuses is stale and removed. The socket is
// created under umask 0177 and then set to 0600 explicitly.
func listenSocket(path string) (*net.UnixListener, os.FileInfo, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, nil, fmt.Errorf("ipc socket %s: create parent directory: %w", path, err)
	}
	if err := checkExisting(path); err != nil {
		return nil, nil, err
	}
	umaskMu.Lock()
	old := unix.Umask(0o177)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	unix.Umask(old)
	umaskMu.Unlock()
	if err != nil {
		return nil, nil, fmt.Errorf("ipc socket %s: listen: %w", path, err)
	}
	ln.SetUnlinkOnClose(false)
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, nil, fmt.Errorf("ipc socket %s: chmod 0600: %w", path, err)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		ln.Close()
		return nil, nil, fmt.Errorf("ipc socket %s: %w", path, err)
	}
	return ln, fi, nil
}

func checkExisting(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("ipc socket %s: %w", path, err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("ipc socket %s: %w (%s); remove it or choose another -socket", path, ErrNotSocket, fi.Mode().Type())
	}
	c, err := net.DialTimeout("unix", path, staleProbeTimeout)
	if err == nil {
		c.Close()
		return fmt.Errorf("%w on %s", ErrAnotherDaemon, path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) && !errors.Is(err, syscall.ENOENT) {
		return fmt.Errorf("ipc socket %s: probe existing socket: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("ipc socket %s: remove stale socket: %w", path, err)
	}
	return nil
}

// peerUID returns the UID of the process at the other end of c, and false
// when the OS does not report it (peercred_*.go).
func peerUID(c *net.UnixConn) (uint32, bool) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, false
	}
	var uid uint32
	var ok bool
	if err := raw.Control(func(fd uintptr) { uid, ok = peerCredUID(int(fd)) }); err != nil {
		return 0, false
	}
	return uid, ok
}

// peerAllowed implements the peer check of ipc.md §1: the daemon's own UID
// or root.
func peerAllowed(peer, daemon uint32) bool { return peer == daemon || peer == 0 }
