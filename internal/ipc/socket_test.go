package ipc_test

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pilot-go/pilot/internal/ipc"
	"github.com/pilot-go/pilot/internal/ipc/ipctest"
	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
)

func newServer(path string) (*ipc.Server, error) {
	return ipc.New(ipc.Config{SocketPath: path, Backend: &ipctest.Backend{Node: ourNode}})
}

// TestIPC_C1_SocketMode0600 checks the mode right after creation, the 0700
// parent directory and the removal of the socket on shutdown.
func TestIPC_C1_SocketMode0600(t *testing.T) {
	dir := filepath.Dir(socketPath(t))
	path := filepath.Join(dir, "run", "pilot.sock")
	srv, err := newServer(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want socket 0600", fi.Mode())
	}
	di, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if di.Mode().Perm() != 0o700 {
		t.Errorf("parent directory mode %v, want 0700", di.Mode().Perm())
	}
	srv.Close()
	srv.Close() // idempotent
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket still present after Close: %v", err)
	}
}

func TestIPC_C1_SecondDaemonRefused(t *testing.T) {
	ts := startServer(t, nil)
	_, err := newServer(ts.path)
	if !errors.Is(err, ipc.ErrAnotherDaemon) {
		t.Fatalf("second New: %v, want ErrAnotherDaemon", err)
	}
	if want := "another daemon is listening on " + ts.path; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
	ts.dial(t).info() // the first daemon is unaffected
}

func TestIPC_C1_StaleSocketReplaced(t *testing.T) {
	path := socketPath(t)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	if _, err := os.Lstat(path); err != nil {
		t.Fatalf("stale socket not left behind: %v", err)
	}
	srv, err := newServer(path)
	if err != nil {
		t.Fatalf("New over a stale socket: %v", err)
	}
	srv.Close()
}

func TestIPC_C1_RegularFileKept(t *testing.T) {
	for _, kind := range []string{"file", "directory"} {
		t.Run(kind, func(t *testing.T) {
			path := socketPath(t)
			if kind == "file" {
				if err := os.WriteFile(path, []byte("keep me"), 0o644); err != nil {
					t.Fatal(err)
				}
			} else if err := os.Mkdir(path, 0o700); err != nil {
				t.Fatal(err)
			}
			if _, err := newServer(path); !errors.Is(err, ipc.ErrNotSocket) {
				t.Fatalf("New: %v, want ErrNotSocket", err)
			}
			if kind == "file" {
				b, err := os.ReadFile(path)
				if err != nil || string(b) != "keep me" {
					t.Fatalf("file was modified: %q %v", b, err)
				}
			} else if fi, err := os.Stat(path); err != nil || !fi.IsDir() {
				t.Fatalf("directory was removed: %v", err)
			}
		})
	}
}

func TestIPC_ClientCap257thClosed(t *testing.T) {
	ts := startServer(t, nil)
	clients := make([]*rawClient, ipc.DefaultMaxClients)
	for i := range clients {
		clients[i] = ts.dial(t)
		clients[i].info() // admitted
	}
	extra := ts.dial(t)
	extra.expectEOF()
	clients[0].nc.Close()
	// The slot frees once the server has cleaned up client 0.
	for i := 0; ; i++ {
		c := ts.dial(t)
		c.nc.Write(ipcmsg.AppendFrame(nil, ipcmsg.Info{})) // may fail: refused clients are closed at once
		if _, err := readOne(c); err == nil {
			break
		}
		if i > 1000 {
			t.Fatal("a slot never freed after a client left")
		}
	}
	clients[1].info()
}

func TestIPC_PeerCheckRule(t *testing.T) {
	for _, tc := range []struct {
		peer, daemon uint32
		ok           bool
	}{{1000, 1000, true}, {0, 1000, true}, {1001, 1000, false}, {0, 0, true}, {5, 0, false}} {
		if got := ipc.PeerAllowed(tc.peer, tc.daemon); got != tc.ok {
			t.Errorf("peerAllowed(%d, %d) = %v, want %v", tc.peer, tc.daemon, got, tc.ok)
		}
	}
}
