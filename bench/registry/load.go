package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/pilot-go/pilot/internal/rawsock"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

// errMarker identifies an error reply without decoding it (the encoder
// writes "type" as the first key; a success reply never has type error).
var errMarker = []byte(`"type":"error"`)

// result of one closed-loop run.
type result struct {
	requests int
	wall     time.Duration
	lat      []time.Duration // sorted
	errors   int
	firstErr string
	cpu      cpuSample // spent during the run
}

func (r result) opsPerSec() float64 { return float64(r.requests) / r.wall.Seconds() }

func (r result) pct(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	i := int(p * float64(len(r.lat)-1))
	return r.lat[i]
}

// closedLoop sends frames over clients connections, each connection one
// request at a time (write, wait for the reply, next), and measures every
// round trip. frames are split evenly among the clients.
func closedLoop(address string, clients int, frames [][]byte) (result, error) {
	conns := make([]net.Conn, clients)
	for i := range conns {
		c, err := net.Dial("tcp", address)
		if err != nil {
			return result{}, err
		}
		defer c.Close()
		conns[i] = c
	}
	var (
		mu  sync.Mutex
		res = result{requests: len(frames)}
		wg  sync.WaitGroup
	)
	start := time.Now()
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Raw system calls, as the registry's own side does: the
			// load generator shares the cores with the registry, and
			// every microsecond it spends is one the registry lacks.
			rw := rawsock.ReadWriter(c)
			br := bufio.NewReaderSize(rw, 64<<10)
			buf := make([]byte, 0, 4096)
			lat := make([]time.Duration, 0, len(frames)/clients+1)
			errs, first := 0, ""
			for j := i; j < len(frames); j += clients {
				t0 := time.Now()
				if _, err := rw.Write(frames[j]); err != nil {
					errs, first = errs+1, err.Error()
					break
				}
				body, err := regmsg.ReadFrame(br, buf)
				if err != nil {
					errs, first = errs+1, err.Error()
					break
				}
				lat = append(lat, time.Since(t0))
				if bytes.Contains(body, errMarker) {
					errs++
					if first == "" {
						first = string(body)
					}
				}
			}
			mu.Lock()
			res.lat = append(res.lat, lat...)
			res.errors += errs
			if res.firstErr == "" {
				res.firstErr = first
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.wall = time.Since(start)
	slices.Sort(res.lat)
	return res, nil
}

// pipelined sends frames over conns connections without waiting for
// replies (the registry answers in order), and returns every reply body,
// index-aligned with frames.
func pipelined(address string, conns int, frames [][]byte) ([][]byte, time.Duration, error) {
	replies := make([][]byte, len(frames))
	errc := make(chan error, 2*conns)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range conns {
		c, err := net.Dial("tcp", address)
		if err != nil {
			return nil, 0, err
		}
		defer c.Close()
		wg.Add(2)
		go func() { // writer
			defer wg.Done()
			bw := bufio.NewWriterSize(c, 64<<10)
			for j := i; j < len(frames); j += conns {
				if _, err := bw.Write(frames[j]); err != nil {
					errc <- err
					return
				}
			}
			if err := bw.Flush(); err != nil {
				errc <- err
			}
		}()
		go func() { // reader
			defer wg.Done()
			br := bufio.NewReaderSize(c, 64<<10)
			for j := i; j < len(frames); j += conns {
				body, err := regmsg.ReadFrame(br, nil)
				if err != nil {
					errc <- fmt.Errorf("reply %d: %w", j, err)
					return
				}
				replies[j] = body
			}
		}()
	}
	wg.Wait()
	d := time.Since(start)
	select {
	case err := <-errc:
		return nil, d, err
	default:
	}
	return replies, d, nil
}

// frameOf encodes a request as a frame, panicking on encoder errors (the
// requests are built by this program).
func frameOf(req regmsg.Request) []byte {
	body, err := regmsg.MarshalRequest(req)
	if err != nil {
		panic(err)
	}
	return append(binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(body)), uint32(len(body))), body...)
}
