package ipc

import (
	"errors"
	"math/rand/v2"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
)

// Ephemeral port range of Bind 0 and datagram ports (ipc.md §5.1, §5.7).
const (
	EphemeralMin addr.Port = 49152
	EphemeralMax addr.Port = 65535
)

const ephemeralCount = int(EphemeralMax-EphemeralMin) + 1

// reserveEphemeralLocked picks a random free ephemeral port and records c
// as its owner. It returns 0 when every port is taken.
func (s *Server) reserveEphemeralLocked(c *client) addr.Port {
	start := rand.IntN(ephemeralCount)
	for i := range ephemeralCount {
		p := EphemeralMin + addr.Port((start+i)%ephemeralCount)
		if _, taken := s.ports[p]; !taken {
			s.ports[p] = c
			return p
		}
	}
	return 0
}

func (s *Server) releasePort(p addr.Port, c *client) {
	s.mu.Lock()
	if s.ports[p] == c {
		delete(s.ports, p)
	}
	s.mu.Unlock()
}

// bind makes port (0 = ephemeral) a listener of c (ipc.md §5.1).
func (s *Server) bind(c *client, port addr.Port) (addr.Port, error) {
	tries := 1
	if port == 0 {
		tries = 64 // the backend may use some ephemeral ports itself
	}
	for range tries {
		p := port
		s.mu.Lock()
		if p == 0 {
			p = s.reserveEphemeralLocked(c)
			if p == 0 {
				s.mu.Unlock()
				return 0, Errorf(ipcmsg.CodeResourceExhausted, "bind: no free ephemeral port")
			}
		} else {
			if _, taken := s.ports[p]; taken {
				s.mu.Unlock()
				return 0, alreadyBound(p)
			}
			s.ports[p] = c
		}
		s.mu.Unlock()
		err := s.backend.Listen(p, c)
		if errors.Is(err, ErrPortInUse) {
			s.releasePort(p, c)
			if port == 0 {
				continue
			}
			return 0, alreadyBound(p)
		}
		if err != nil {
			s.releasePort(p, c)
			return 0, err
		}
		if !c.addBound(p) { // the client went away meanwhile
			s.backend.Unlisten(p)
			s.releasePort(p, c)
			return 0, errClientGone
		}
		return p, nil
	}
	return 0, Errorf(ipcmsg.CodeResourceExhausted, "bind: no free ephemeral port")
}

func alreadyBound(p addr.Port) error {
	return Errorf(ipcmsg.CodeAlreadyExists, "port %d already bound", p)
}

var errClientGone = Errorf(ipcmsg.CodeUnavailable, "client disconnected")

// unbind removes a listener of c (ipc.md §10.5).
func (s *Server) unbind(c *client, port addr.Port) error {
	if !c.removeBound(port) {
		return Errorf(ipcmsg.CodeNotFound, "port %d not bound by this client", port)
	}
	s.backend.Unlisten(port)
	s.releasePort(port, c)
	return nil
}

// datagramPort returns c's datagram port, allocating it on first use
// (ipc.md §5.7).
func (s *Server) datagramPort(c *client) (addr.Port, error) {
	c.mu.Lock()
	p, closed := c.dgramPort, c.closed
	c.mu.Unlock()
	if closed {
		return 0, errClientGone
	}
	if p != 0 {
		return p, nil
	}
	s.mu.Lock()
	p = s.reserveEphemeralLocked(c)
	s.mu.Unlock()
	if p == 0 {
		return 0, Errorf(ipcmsg.CodeResourceExhausted, "sendto: no free ephemeral port")
	}
	c.mu.Lock()
	switch {
	case c.closed:
		c.mu.Unlock()
		s.releasePort(p, c)
		return 0, errClientGone
	case c.dgramPort != 0: // a concurrent SendTo won
		won := c.dgramPort
		c.mu.Unlock()
		s.releasePort(p, c)
		return won, nil
	}
	c.dgramPort = p
	c.mu.Unlock()
	return p, nil
}

// ownsPort reports whether c bound p or owns it as its datagram port.
func (s *Server) ownsPort(c *client, p addr.Port) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ports[p] == c
}
