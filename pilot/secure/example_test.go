package secure_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"log"
	"net"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/pilot"
	"github.com/pilot-go/pilot/pilot/secure"
)

// addrConn gives one end of a net.Pipe the Pilot addresses a daemon's
// stream would have.
type addrConn struct {
	net.Conn
	local, remote *pilot.Addr
}

func (c addrConn) LocalAddr() net.Addr  { return c.local }
func (c addrConn) RemoteAddr() net.Addr { return c.remote }

// A client and a server authenticate each other over an in-memory stream
// standing in for a Pilot connection.
func Example() {
	alice, bob := addr.New(0, 0x2AE), addr.New(0, 0x1F00)
	aliceKey := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))
	bobKey := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{2}, 32))
	// What the registry publishes; an application would use the daemon's
	// lookup (with secure.NewCache) instead.
	registry := secure.StaticKeys{
		alice.Node: {PublicKey: aliceKey.Public().(ed25519.PublicKey), Capabilities: []string{secure.CapabilityV2}},
		bob.Node:   {PublicKey: bobKey.Public().(ed25519.PublicKey), Capabilities: []string{secure.CapabilityV2}},
	}
	a, b := net.Pipe()
	aliceEnd := addrConn{a, &pilot.Addr{Addr: alice, Port: 49152}, &pilot.Addr{Addr: bob, Port: secure.Port}}
	bobEnd := addrConn{b, &pilot.Addr{Addr: bob, Port: secure.Port}, &pilot.Addr{Addr: alice, Port: 49152}}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() {
		conn, err := secure.Server(ctx, bobEnd, &secure.Config{Signer: secure.Ed25519Signer(bobKey), Keys: registry})
		if err != nil {
			log.Print(err)
			return
		}
		defer conn.Close()
		fmt.Fprintf(conn, "hello node %d", conn.PeerNodeID())
	}()
	conn, err := secure.Client(ctx, aliceEnd, &secure.Config{Signer: secure.Ed25519Signer(aliceKey), Keys: registry})
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	msg, err := io.ReadAll(conn)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s mode, peer %d: %s\n", conn.Mode(), conn.PeerNodeID(), msg)
	// Output: v2 mode, peer 7936: hello node 686
}

// Dial a peer's secure channel on port 443; needs a running daemon and a
// KeyStore backed by the registry.
func ExampleDial() {
	var (
		identity ed25519.PrivateKey // the node's identity key
		lookup   secure.LookupFunc  // the registry lookup, e.g. over IPC
	)
	cfg := &secure.Config{
		Signer: secure.Ed25519Signer(identity),
		Keys:   secure.NewCache(lookup, 5*time.Minute),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := secure.Dial(ctx, "0:0000.0000.1F00:443", cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	log.Printf("talking to node %d", conn.PeerNodeID())
}

// Serve authenticated clients on port 443; needs a running daemon.
func ExampleListen() {
	var cfg *secure.Config // as in ExampleDial
	inner, err := pilot.Listen(context.Background(), pilot.Network, ":443")
	if err != nil {
		log.Fatal(err)
	}
	ln, err := secure.Listen(inner, cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer conn.Close()
			peer := conn.(*secure.Conn).PeerNodeID()
			fmt.Fprintf(conn, "hello node %d\n", peer)
		}()
	}
}
