package pilot_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"time"

	"github.com/pilot-go/pilot/pilot"
)

func ExampleParseAddr() {
	a, err := pilot.ParseAddr("1:0001.0000.02ae:1000")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(a.Network(), a, a.Addr.Node, a.Port)
	// Output: pilot 1:0001.0000.02AE:1000 686 1000
}

// Dial a peer's port 1000 and exchange a line; needs a running daemon.
func ExampleDial() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pilot.Dial(ctx, "pilot", "0:0000.0000.02AE:1000")
	if err != nil {
		var pe *pilot.Error
		if errors.As(err, &pe) && pe.Code == pilot.CodeConnectionFailed {
			log.Printf("peer refused: %v", pe.Message)
		}
		log.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, "hello\n"); err != nil {
		log.Fatal(err)
	}
	reply := make([]byte, 1024)
	n, err := conn.Read(reply)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s", reply[:n])
}

// Serve an echo service on port 1000; needs a running daemon.
func ExampleListen() {
	ln, err := pilot.Listen(context.Background(), "pilot", ":1000")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close() // sends Unbind: the port is free again
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		go func(c net.Conn) {
			defer c.Close()
			io.Copy(c, c)
		}(conn)
	}
}

// Send a datagram and wait up to a second for the answer; needs a
// running daemon.
func ExampleListenPacket() {
	pc, err := pilot.ListenPacket(context.Background(), "pilot", ":0")
	if err != nil {
		log.Fatal(err)
	}
	defer pc.Close()
	dst, _ := pilot.ParseAddr("0:0000.0000.02AE:5000")
	if _, err := pc.WriteTo([]byte("ping"), dst); err != nil {
		log.Fatal(err)
	}
	pc.SetReadDeadline(time.Now().Add(time.Second))
	buf := make([]byte, 65536)
	n, from, err := pc.ReadFrom(buf)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s from %v\n", buf[:n], from)
}

// Share one IPC connection among several connections; needs a running
// daemon.
func ExampleConnect() {
	ctx := context.Background()
	c, err := pilot.Connect(ctx, pilot.WithSocket("/tmp/pilot.sock"))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	a, err := c.Dial(ctx, "pilot", "0:0000.0000.02AE:1000")
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close()
	b, err := c.Dial(ctx, "pilot", "0:0000.0000.02AF:1000")
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
}
