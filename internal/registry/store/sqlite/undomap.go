package sqlite

// undoMap is a map with an undo log, for the writer's in-memory indexes
// (nonceidx.go, keydir.go): each change logs the entry it replaced, so
// that a savepoint is a length of the log and rolling back to it replays
// the log backwards.
type undoMap[K comparable, V any] struct {
	m    map[K]V
	undo []undoEntry[K, V]
}

type undoEntry[K comparable, V any] struct {
	k   K
	old V
	had bool
}

func (u *undoMap[K, V]) set(k K, v V) {
	if u.m == nil {
		u.m = make(map[K]V)
	}
	old, had := u.m[k]
	u.undo = append(u.undo, undoEntry[K, V]{k: k, old: old, had: had})
	u.m[k] = v
}

func (u *undoMap[K, V]) del(k K) {
	if old, had := u.m[k]; had {
		u.undo = append(u.undo, undoEntry[K, V]{k: k, old: old, had: true})
		delete(u.m, k)
	}
}

// rollbackTo undoes the changes made after the log had mark entries.
func (u *undoMap[K, V]) rollbackTo(mark int) {
	for i := len(u.undo) - 1; i >= mark; i-- {
		e := u.undo[i]
		if e.had {
			u.m[e.k] = e.old
		} else {
			delete(u.m, e.k)
		}
	}
	clear(u.undo[mark:])
	u.undo = u.undo[:mark]
}
