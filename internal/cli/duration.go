package cli

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// parseDuration accepts Go durations ("90s", "5m", "168h") and a whole or
// fractional number of days with a "d" suffix ("90d", "1.5d"), cli.md
// "Duration values". Negative values are refused.
func parseDuration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok && days != "" {
		n, err := strconv.ParseFloat(days, 64)
		if err != nil || !(n >= 0 && n <= 100*365) { // also refuses NaN
			return 0, usageErr("invalid duration %q: want for example 90d, 36h or 30s", s)
		}
		return time.Duration(n * float64(24*time.Hour)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, usageErr("invalid duration %q: want for example 90d, 36h or 30s", s)
	}
	return d, nil
}

// durationValue is a pflag.Value for durations with the "d" suffix.
type durationValue struct{ d *time.Duration }

func (v durationValue) String() string {
	if v.d == nil || *v.d == 0 {
		return "" // help then shows no default
	}
	return v.d.String()
}

func (v durationValue) Set(s string) error {
	d, err := parseDuration(s)
	if err != nil {
		// pflag prefixes the flag name; the message alone reads best.
		return errors.New(err.(*Error).Message)
	}
	*v.d = d
	return nil
}

func (durationValue) Type() string { return "duration" }
