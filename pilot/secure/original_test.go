package secure

import (
	"errors"
	"testing"
	"time"

	"github.com/pilot-go/pilot/addr"
	svc "github.com/pilot-go/pilot/internal/wire/svcmsg/secure"
)

// originalSetup publishes both nodes without secure-v2 and allows the
// original mode on both sides.
func originalSetup(auth bool) (ccfg, scfg *Config) {
	ccfg, scfg = setup()
	for _, ks := range []*keyStore{ccfg.Keys.(*keyStore), scfg.Keys.(*keyStore)} {
		for n, p := range ks.stale {
			p.Capabilities = []string{"auth-v2"}
			ks.stale[n] = p
		}
	}
	for _, c := range []*Config{ccfg, scfg} {
		c.AllowOriginal, c.OriginalAuth = true, auth
	}
	return ccfg, scfg
}

func TestSecure_Original_WhenAllowedAndNoV2(t *testing.T) {
	for _, auth := range []bool{false, true} {
		cl, sv := pipe()
		ccfg, scfg := originalSetup(auth)
		client, server := mustPair(t, cl, sv, ccfg, scfg)
		if client.Mode() != ModeOriginal || server.Mode() != ModeOriginal {
			t.Fatalf("auth=%v: modes %v/%v, want original", auth, client.Mode(), server.Mode())
		}
		wantC, wantS := addr.NodeID(0), addr.NodeID(0)
		if auth {
			wantC, wantS = serverNode, clientNode
		}
		if client.PeerNodeID() != wantC || server.PeerNodeID() != wantS {
			t.Errorf("auth=%v: PeerNodeID %d/%d, want %d/%d", auth, client.PeerNodeID(), server.PeerNodeID(), wantC, wantS)
		}
		hs := cl.bytesWritten()
		if string(hs[:4]) == svc.Magic {
			t.Error("original client sent PSC2")
		}
		exchange(t, client, server, payload(150_000, 4), payload(1000, 5))
		// Records after the key: prefix c2s, AAD of the original mode.
		off := svc.KeyLen
		if auth {
			off += svc.LenFieldLen + svc.MinRecordLen + svc.AuthRecordLen
		}
		if n := len(records(t, cl.bytesWritten()[off:])); n != 3 {
			t.Errorf("auth=%v: %d records for 150,000 bytes, want 3", auth, n)
		}
	}
}

func TestSecure_Original_ClientUsesV2WhenPeerHasIt(t *testing.T) {
	cl, sv := pipe()
	ccfg, scfg := setup()
	ccfg.AllowOriginal, scfg.AllowOriginal = true, true
	client, _ := mustPair(t, cl, sv, ccfg, scfg)
	if client.Mode() != ModeV2 {
		t.Fatalf("mode %v, want v2", client.Mode())
	}
}

func TestSecure_Original_ListenerRefuses(t *testing.T) {
	cases := []struct {
		name         string
		serverAllows bool
		clientHasV2  bool // in the server's key store
	}{
		{"listener without AllowOriginal", false, false},
		{"client advertises secure-v2", true, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cl, sv := pipe()
			ccfg, scfg := originalSetup(false)
			scfg.AllowOriginal = tc.serverAllows
			if tc.clientHasV2 {
				ks := scfg.Keys.(*keyStore)
				p := ks.stale[clientNode]
				p.Capabilities = v2Caps
				ks.stale[clientNode] = p
			}
			c, s := handshakePair(t, cl, sv, ccfg, scfg)
			if !errors.Is(s.err, ErrModeNotAllowed) {
				t.Fatalf("server error %v, want ErrModeNotAllowed", s.err)
			}
			if c.err == nil {
				t.Error("client handshake succeeded")
			}
			if n := len(sv.bytesWritten()); n != 0 {
				t.Errorf("server wrote %d bytes", n)
			}
		})
	}
}

func TestSecure_Original_AuthChecks(t *testing.T) {
	cases := []struct {
		name  string
		tweak func(ccfg, scfg *Config)
	}{
		{"server clock 6 s ahead", func(_, scfg *Config) {
			scfg.now = func() time.Time { return time.Now().Add(6 * time.Second) }
		}},
		{"server signs with a foreign key", func(_, scfg *Config) { scfg.Signer = Ed25519Signer(testKey(9)) }},
		{"server claims another node", func(_, scfg *Config) { scfg.NodeID = 0x77 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cl, sv := pipe()
			ccfg, scfg := originalSetup(true)
			tc.tweak(ccfg, scfg)
			c, _ := handshakePair(t, cl, sv, ccfg, scfg)
			if !errors.Is(c.err, ErrAuthentication) {
				t.Fatalf("client error %v, want ErrAuthentication", c.err)
			}
			if n := len(cl.bytesWritten()); n != svc.KeyLen {
				t.Errorf("client wrote %d bytes, want only its key", n)
			}
		})
	}
}

func TestSecure_Original_AuthReplayCache(t *testing.T) {
	rc := &replayCache{}
	now := time.Unix(1_800_000_000, 0)
	r1 := [svc.AuthRandomLen]byte{1}
	if !rc.fresh(r1, now) {
		t.Fatal("first use rejected")
	}
	if rc.fresh(r1, now.Add(59*time.Minute)) {
		t.Fatal("replay within the hour accepted")
	}
	if !rc.fresh(r1, now.Add(61*time.Minute)) {
		t.Fatal("reuse after the hour rejected")
	}
	// The cache is bounded: the oldest entries go first.
	for i := range authReplayLimit + 10 {
		var r [svc.AuthRandomLen]byte
		r[0], r[1], r[2], r[3] = 2, byte(i>>16), byte(i>>8), byte(i)
		rc.fresh(r, now.Add(2*time.Hour))
	}
	if n := len(rc.seen); n > authReplayLimit {
		t.Fatalf("cache holds %d entries", n)
	}
}
