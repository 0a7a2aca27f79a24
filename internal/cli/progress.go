package cli

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// isTerminal reports whether w is a terminal (the default Env.IsTerminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), ioctlGetTermios)
	return err == nil
}

// progress rewrites one line on stderr with \r, at most 10 times a second:
// bytes done, total and rate (cli.md §4.2). A nil *progress prints nothing,
// which is what bench and send-file use when stderr is not a terminal or
// --json is on.
type progress struct {
	w     io.Writer
	total int64
	now   func() time.Time
	start time.Time

	mu    sync.Mutex
	last  time.Time
	shown bool
}

func newProgress(w io.Writer, total int64, now func() time.Time) *progress {
	t := now()
	return &progress{w: w, total: total, now: now, start: t}
}

// update reports done bytes; it prints when 100 ms passed since the last line.
func (p *progress) update(done int64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.now()
	if p.shown && t.Sub(p.last) < 100*time.Millisecond && done < p.total {
		return
	}
	p.last, p.shown = t, true
	rate := 0.0
	if el := t.Sub(p.start).Seconds(); el > 0 {
		rate = float64(done) / (1 << 20) / el
	}
	fmt.Fprintf(p.w, "\r%d / %d bytes (%.1f%%)  %.2f MiB/s ", done, p.total, pct(done, p.total), rate)
}

// finish ends the progress line.
func (p *progress) finish() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		fmt.Fprint(p.w, "\n")
	}
}

func pct(done, total int64) float64 {
	if total <= 0 {
		return 100
	}
	return float64(done) * 100 / float64(total)
}
