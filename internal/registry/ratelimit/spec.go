package ratelimit

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ErrSpec is wrapped by every error of ParseSpec.
var ErrSpec = errors.New("invalid -rate-limit value")

// ParseSpec parses the -rate-limit flag (registry.md §12, cli.md §1.1):
//
//	""                                  no overrides
//	"off"                               rate limiting disabled
//	"heartbeat=30/min:10,read=600/min:100"
//
// Each entry is category=N/min:burst with N a positive number (fractions
// allowed) and burst a positive integer. A category may appear once.
func ParseSpec(s string) (overrides map[Category]Limit, disabled bool, err error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, false, nil
	}
	if strings.EqualFold(s, "off") {
		return nil, true, nil
	}
	known := Defaults()
	overrides = make(map[Category]Limit)
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		name, val, ok := strings.Cut(item, "=")
		if !ok {
			return nil, false, fmt.Errorf("%w: entry %q: want category=N/min:burst", ErrSpec, item)
		}
		c := Category(strings.TrimSpace(name))
		if _, ok := known[c]; !ok {
			return nil, false, fmt.Errorf("%w: unknown category %q (known: %s)", ErrSpec, c, categoryList())
		}
		if _, dup := overrides[c]; dup {
			return nil, false, fmt.Errorf("%w: category %q given twice", ErrSpec, c)
		}
		lim, err := parseLimit(strings.TrimSpace(val))
		if err != nil {
			return nil, false, fmt.Errorf("%w: %s: %v", ErrSpec, c, err)
		}
		overrides[c] = lim
	}
	return overrides, false, nil
}

func parseLimit(s string) (Limit, error) {
	rateStr, burstStr, ok := strings.Cut(s, ":")
	if !ok {
		return Limit{}, fmt.Errorf("%q: want N/min:burst", s)
	}
	n, ok := strings.CutSuffix(rateStr, "/min")
	if !ok {
		return Limit{}, fmt.Errorf("rate %q: want N/min", rateStr)
	}
	perMin, err := strconv.ParseFloat(n, 64)
	if err != nil {
		return Limit{}, fmt.Errorf("rate %q is not a number", n)
	}
	burst, err := strconv.Atoi(burstStr)
	if err != nil {
		return Limit{}, fmt.Errorf("burst %q is not an integer", burstStr)
	}
	lim := Limit{PerMinute: perMin, Burst: burst}
	return lim, lim.validate()
}

func (l Limit) validate() error {
	if math.IsNaN(l.PerMinute) || math.IsInf(l.PerMinute, 0) || l.PerMinute <= 0 {
		return fmt.Errorf("rate %v/min must be a positive number", l.PerMinute)
	}
	if l.Burst < 1 {
		return fmt.Errorf("burst %d must be at least 1", l.Burst)
	}
	return nil
}

func categoryList() string {
	names := make([]string, len(Categories))
	for i, c := range Categories {
		names[i] = string(c)
	}
	return strings.Join(names, ", ")
}
