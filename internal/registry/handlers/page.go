package handlers

import (
	"encoding/json"
	"strconv"

	"github.com/pilot-go/pilot/internal/registry/server"
)

// Pagination (registry.md §4.4): cursors are the decimal form of the last
// key returned; a page holds at most limit items and fewer when the
// encoded reply would exceed 65,536 bytes.

// Page sizes of §8.2.
const (
	listPageDefault  = 100
	listPageMax      = 500
	auditPageDefault = 100
	auditPageMax     = 1000
)

// replyBudget is the room for list entries: the frame cap minus the
// envelope and next_cursor.
const replyBudget = server.MaxFrame - 1024

// parseCursor decodes a cursor ("" = first page).
func parseCursor(s string, max uint64) (v uint64, first bool, err error) {
	if s == "" {
		return 0, true, nil
	}
	v, perr := strconv.ParseUint(s, 10, 64)
	if perr != nil || v > max || strconv.FormatUint(v, 10) != s {
		return 0, false, invalid("cursor %q was not issued by this registry for this list; start again without cursor", s)
	}
	return v, false, nil
}

// fit returns how many of items fit in the reply budget (at least one, so
// that a list always advances; single entries are far below the cap).
func fit[T any](items []T) int {
	size := 0
	for i, it := range items {
		b, err := json.Marshal(it)
		if err != nil {
			return i
		}
		size += len(b) + 1
		if size > replyBudget && i > 0 {
			return i
		}
	}
	return len(items)
}
