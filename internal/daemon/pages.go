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

// List replies (ipc.md §5.18, §10.4): the daemon follows next_cursor and
// concatenates the arrays until the last page, MaxListItems items or a
// reply near MaxListBytes; when it stops early the reply keeps the
// registry's next_cursor, which a RegistryOp client passes back as cursor.
const (
	MaxListItems = 10000
	// MaxListBytes leaves room below the 1 MiB IPC frame for the envelope.
	MaxListBytes = 960 << 10
	// maxPageLimit is the registry's largest page (registry.md §8.2).
	maxPageLimit = 500
)

// pages runs a paged list request from cursor and returns the first
// page's object with the array under key holding every item collected,
// and next_cursor only when it stopped early. A single complete page is
// returned verbatim. The least-privilege token rule applies to the first
// page; later pages reuse its outcome.
func (c control) pages(ctx context.Context, label, key, cursor, tok string, tokenFirst bool,
	build func(regmsg.Page) regmsg.Request) (json.RawMessage, error) {
	body, usedTok, err := c.doLPRaw(ctx, tok, tokenFirst, func() regmsg.Request {
		return build(regmsg.Page{Cursor: cursor})
	})
	if err != nil {
		return nil, registryError(label, err)
	}
	first, items, next, err := splitPage(body, key)
	if err != nil {
		return nil, ipc.Errorf(ipcmsg.CodeInternal, "%s: %v", label, err)
	}
	if next == "" {
		return json.RawMessage(body), nil
	}
	size := len(body)
	for next != "" && len(items) < MaxListItems && size < MaxListBytes {
		// The limit keeps the total within MaxListItems without dropping
		// part of a page.
		pg := regmsg.Page{Cursor: next, Limit: min(MaxListItems-len(items), maxPageLimit)}
		body, _, err := c.doLPRaw(ctx, tok, usedTok, func() regmsg.Request { return build(pg) })
		if err != nil {
			return nil, registryError(label, err)
		}
		_, more, cur, err := splitPage(body, key)
		if err != nil {
			return nil, ipc.Errorf(ipcmsg.CodeInternal, "%s: %v", label, err)
		}
		size += len(body)
		items = append(items, more...)
		next = cur
	}
	arr, err := json.Marshal(items)
	if err != nil {
		return nil, ipc.Errorf(ipcmsg.CodeInternal, "%s: %v", label, err)
	}
	first[key] = arr
	if next != "" {
		first["next_cursor"], _ = json.Marshal(next)
	} else {
		delete(first, "next_cursor")
	}
	out, err := ipcmsg.EncodeJSON(first)
	if err != nil {
		return nil, ipc.Errorf(ipcmsg.CodeInternal, "%s: %v", label, err)
	}
	return out, nil
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

// withOnline adds "online" (the negation of the registry's "offline",
// which is present only when true) to every entry of a members reply
// (ipc.md §10.4 network.members).
func withOnline(body json.RawMessage) (json.RawMessage, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil {
		return nil, ipc.Errorf(ipcmsg.CodeInternal, "members reply: %v", err)
	}
	var nodes []map[string]json.RawMessage
	if err := json.Unmarshal(obj["nodes"], &nodes); err != nil {
		return nil, ipc.Errorf(ipcmsg.CodeInternal, "members reply: %v", err)
	}
	for _, n := range nodes {
		// ipc.md §10.4 lists hostname, online and tags for every member;
		// the registry omits hostname and tags when unset (registry.md
		// §7.4.7) and reports offline rather than online.
		if _, ok := n["hostname"]; !ok {
			n["hostname"] = json.RawMessage(`""`)
		}
		if _, ok := n["tags"]; !ok {
			n["tags"] = json.RawMessage(`[]`)
		}
		if _, ok := n["online"]; ok {
			continue
		}
		offline := false
		_ = json.Unmarshal(n["offline"], &offline)
		n["online"], _ = json.Marshal(!offline)
	}
	if nodes == nil {
		nodes = []map[string]json.RawMessage{}
	}
	arr, err := json.Marshal(nodes)
	if err != nil {
		return nil, ipc.Errorf(ipcmsg.CodeInternal, "members reply: %v", err)
	}
	obj["nodes"] = arr
	return ipcmsg.EncodeJSON(obj)
}
