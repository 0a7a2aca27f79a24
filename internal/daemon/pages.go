package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/pilot-go/pilot/internal/ipc"
	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

// List replies (ipc.md §2, §5.18, §10.4): the daemon follows next_cursor
// and concatenates the arrays until the last page, MaxListItems items or a
// reply near MaxListBytes; when it stops early the reply keeps the
// registry's next_cursor, which a RegistryOp client passes back as cursor.
const (
	MaxListItems = 10000
	// MaxListBytes bounds the encoded list object as the daemon sends it:
	// the entries after any decoration (network.members adds online,
	// hostname and tags), the other keys and next_cursor. The rest of the
	// 1 MiB IPC message is left for what RegistryOp adds (network_id) and
	// the command and tag bytes.
	MaxListBytes = 960 << 10
	// maxPageLimit is the registry's largest page (registry.md §8.2).
	maxPageLimit = 500
)

// pages runs a paged list request from cursor and returns the first
// page's object with the array under key holding every item collected,
// and next_cursor only when it stopped early. decorate, when not nil,
// rewrites each item as it will be sent; the byte budget counts the items
// after it. A page whose items would take the reply past MaxListBytes is
// not included: the reply then ends before it, with the cursor that
// fetched it as next_cursor, so that nothing is skipped or repeated. A
// single complete page that needs no decoration is returned verbatim. The
// least-privilege token rule applies to the first page; later pages reuse
// its outcome.
func (c control) pages(ctx context.Context, label, key, cursor, tok string, tokenFirst bool,
	build func(regmsg.Page) regmsg.Request, decorate func(json.RawMessage) (json.RawMessage, error)) (json.RawMessage, error) {
	internal := func(err error) error {
		if label == "" {
			return ipc.Errorf(ipcmsg.CodeInternal, "%v", err)
		}
		return ipc.Errorf(ipcmsg.CodeInternal, "%s: %v", label, err)
	}
	body, usedTok, err := c.doLPRaw(ctx, tok, tokenFirst, func() regmsg.Request {
		return build(regmsg.Page{Cursor: cursor})
	})
	if err != nil {
		return nil, registryError(label, err)
	}
	first, raw, next, err := splitPage(body, key)
	if err != nil {
		return nil, internal(err)
	}
	if next == "" && decorate == nil && len(body) <= MaxListBytes {
		return json.RawMessage(body), nil
	}
	l, err := newListReply(first, key, decorate)
	if err != nil {
		return nil, internal(err)
	}
	items, size, err := l.prepare(raw)
	if err != nil {
		return nil, internal(err)
	}
	if !l.fits(size, next) {
		// Registry pages are at most 64 KiB (registry.md §4.4), so only a
		// registry breaking that rule gets here.
		return nil, internal(fmt.Errorf("one registry page of %d items does not fit in an IPC reply", len(raw)))
	}
	l.add(items, size)
	for next != "" && len(l.items) < MaxListItems {
		// The limit keeps the total within MaxListItems without dropping
		// part of a page.
		pg := regmsg.Page{Cursor: next, Limit: min(MaxListItems-len(l.items), maxPageLimit)}
		body, _, err := c.doLPRaw(ctx, tok, usedTok, func() regmsg.Request { return build(pg) })
		if err != nil {
			return nil, registryError(label, err)
		}
		_, raw, cur, err := splitPage(body, key)
		if err != nil {
			return nil, internal(err)
		}
		items, size, err := l.prepare(raw)
		if err != nil {
			return nil, internal(err)
		}
		if !l.fits(size, cur) {
			break // next still fetches this page
		}
		l.add(items, size)
		next = cur
	}
	out, err := l.encode(next)
	if err != nil {
		return nil, internal(err)
	}
	return out, nil
}

// listReply accumulates the items of a list reply and the size of the
// reply they make.
type listReply struct {
	obj      map[string]json.RawMessage
	key      string
	decorate func(json.RawMessage) (json.RawMessage, error)
	items    []json.RawMessage // as sent: compact, decorated
	size     int               // encoded reply without next_cursor (≥ the exact size by one byte)
}

// nextCursorKey is what next_cursor adds to a reply besides its value.
const nextCursorKey = len(`,"next_cursor":`)

func newListReply(first map[string]json.RawMessage, key string, decorate func(json.RawMessage) (json.RawMessage, error)) (*listReply, error) {
	first[key] = json.RawMessage("[]")
	delete(first, "next_cursor")
	env, err := ipcmsg.EncodeJSON(first)
	if err != nil {
		return nil, err
	}
	return &listReply{obj: first, key: key, decorate: decorate, size: len(env)}, nil
}

// prepare returns the items of one page as they will be sent and the bytes
// they add to the reply (each item and one separator).
func (l *listReply) prepare(raw []json.RawMessage) ([]json.RawMessage, int, error) {
	out := make([]json.RawMessage, len(raw))
	size := 0
	for i, item := range raw {
		var b json.RawMessage
		var err error
		if l.decorate != nil {
			b, err = l.decorate(item)
		} else {
			var buf bytes.Buffer
			err = json.Compact(&buf, item)
			b = buf.Bytes()
		}
		if err != nil {
			return nil, 0, err
		}
		out[i] = b
		size += len(b) + 1
	}
	return out, size, nil
}

// fits reports whether the reply stays within MaxListBytes with more bytes
// of items and next_cursor cur ("" = none).
func (l *listReply) fits(more int, cur string) bool {
	n := l.size + more
	if cur != "" {
		q, err := ipcmsg.EncodeJSON(cur)
		if err != nil {
			return false
		}
		n += nextCursorKey + len(q)
	}
	return n <= MaxListBytes
}

func (l *listReply) add(items []json.RawMessage, size int) {
	l.items = append(l.items, items...)
	l.size += size
}

// encode returns the reply object with the items and next_cursor (when
// not "").
func (l *listReply) encode(next string) (json.RawMessage, error) {
	arr := make([]byte, 0, l.size)
	arr = append(arr, '[')
	for i, item := range l.items {
		if i > 0 {
			arr = append(arr, ',')
		}
		arr = append(arr, item...)
	}
	l.obj[l.key] = append(arr, ']')
	if next != "" {
		q, err := ipcmsg.EncodeJSON(next)
		if err != nil {
			return nil, err
		}
		l.obj["next_cursor"] = q
	}
	return ipcmsg.EncodeJSON(l.obj)
}

// splitPage decodes one list reply into its object, the items of key and
// its next_cursor.
func splitPage(body []byte, key string) (obj map[string]json.RawMessage, items []json.RawMessage, next string, err error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&obj); err != nil || obj == nil {
		return nil, nil, "", fmt.Errorf("registry reply is not a JSON object: %v", err)
	}
	if raw, ok := obj[key]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, nil, "", fmt.Errorf("registry reply %q is not an array", key)
		}
	}
	if items == nil {
		items = []json.RawMessage{}
	}
	if raw, ok := obj["next_cursor"]; ok {
		_ = json.Unmarshal(raw, &next)
	}
	return obj, items, next, nil
}

// withoutType returns a registry reply object without its "type" key
// (RegistryOp data, ipc.md §10.4), adding extra keys when given.
func withoutType(body []byte, extra map[string]any) (json.RawMessage, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil || obj == nil {
		return nil, ipc.Errorf(ipcmsg.CodeInternal, "registry reply is not a JSON object")
	}
	delete(obj, "type")
	for k, v := range extra {
		if _, ok := obj[k]; ok {
			continue
		}
		b, err := json.Marshal(v)
		if err != nil {
			return nil, ipc.Errorf(ipcmsg.CodeInternal, "encode %s: %v", k, err)
		}
		obj[k] = b
	}
	return ipcmsg.EncodeJSON(obj)
}

// decorateMember adds "online" (the negation of the registry's "offline",
// which is present only when true) to one network.members entry, and
// hostname "" and tags [] when the registry omitted them (ipc.md §10.4
// lists hostname, online and tags for every member; registry.md §7.4.7).
func decorateMember(item json.RawMessage) (json.RawMessage, error) {
	var n map[string]json.RawMessage
	if err := json.Unmarshal(item, &n); err != nil || n == nil {
		return nil, fmt.Errorf("members reply: entry is not a JSON object: %v", err)
	}
	if _, ok := n["hostname"]; !ok {
		n["hostname"] = json.RawMessage(`""`)
	}
	if _, ok := n["tags"]; !ok {
		n["tags"] = json.RawMessage(`[]`)
	}
	if _, ok := n["online"]; !ok {
		offline := false
		_ = json.Unmarshal(n["offline"], &offline)
		n["online"], _ = json.Marshal(!offline)
	}
	return ipcmsg.EncodeJSON(n)
}
