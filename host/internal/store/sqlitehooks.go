package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// On SQLite a hook claim lives in memory and only the answer is written.
//
// The SQLite store serves one process: its tick locks and named locks are
// process-local already (lock.go), and a second daemon on the same file is
// not supported. A claim only has to exclude callers in this process, so
// BeginHook is a map lookup plus, for an id the map does not know, one read
// on the read pool; FinishHook writes the whole record once, through the
// group commit. That takes the write connection off the request path of an
// approval hook and halves the hook writes. What a crash loses is the same
// as before: a claim whose owner died, which a retry would have taken over
// once its lease ran out anyway.
//
// Claims are shared by every Store open on the same file in this process,
// like the tick locks, and dropped when the last one closes.

// claimGrace is how long an expired claim whose owner never finished is
// kept before it is forgotten (a retry may take it over from its expiry
// on); finishedKeep is how long a stored answer is also kept in memory, so
// a retry racing the end of the first delivery finds it without a read.
const (
	claimGrace   = time.Minute
	finishedKeep = time.Minute
)

// hookClaims are the hooks being answered, and recently answered, in this
// process on one database.
type hookClaims struct {
	mu      sync.Mutex
	refs    int
	entries map[string]*hookEntry
	// expiry lists entries in the order they last changed, with when they
	// may be dropped; an item is stale when its entry changed again since.
	expiry []expiryItem
	gen    uint64
}

type hookEntry struct {
	rec HookRecord // Response nil while claimed
	gen uint64
}

type expiryItem struct {
	id  string
	gen uint64
	at  time.Time
}

var sqliteHookClaims = struct {
	sync.Mutex
	byDB map[string]*hookClaims
}{byDB: map[string]*hookClaims{}}

// acquireHookClaims returns the claims of database lockID, to be released
// with releaseHookClaims.
func acquireHookClaims(lockID string) *hookClaims {
	sqliteHookClaims.Lock()
	defer sqliteHookClaims.Unlock()
	c := sqliteHookClaims.byDB[lockID]
	if c == nil {
		c = &hookClaims{entries: map[string]*hookEntry{}}
		sqliteHookClaims.byDB[lockID] = c
	}
	c.refs++
	return c
}

func releaseHookClaims(lockID string, c *hookClaims) {
	sqliteHookClaims.Lock()
	defer sqliteHookClaims.Unlock()
	c.refs--
	if c.refs <= 0 && sqliteHookClaims.byDB[lockID] == c {
		delete(sqliteHookClaims.byDB, lockID)
	}
}

// set records rec as the entry of its id and schedules its expiry.
// c.mu must be held.
func (c *hookClaims) set(rec HookRecord, at time.Time) {
	c.gen++
	c.entries[rec.ID] = &hookEntry{rec: rec, gen: c.gen}
	c.expiry = append(c.expiry, expiryItem{id: rec.ID, gen: c.gen, at: at})
}

// prune drops entries that are due. c.mu must be held.
func (c *hookClaims) prune(t time.Time) {
	n := 0
	for n < len(c.expiry) && c.expiry[n].at.Before(t) {
		it := c.expiry[n]
		if e := c.entries[it.id]; e != nil && e.gen == it.gen {
			delete(c.entries, it.id)
		}
		n++
	}
	if n > 0 {
		c.expiry = append(c.expiry[:0], c.expiry[n:]...)
	}
}

// decide answers BeginHook from the entry of id, if there is one: the
// stored answer, the live claim, or a takeover of an expired claim.
// c.mu must be held.
func (c *hookClaims) decide(id string, lease time.Duration, t time.Time) (rec *HookRecord, started, known bool) {
	e := c.entries[id]
	if e == nil {
		return nil, false, false
	}
	if e.rec.Response != nil || e.rec.LeaseUntil.After(t) {
		r := e.rec
		return &r, false, true
	}
	// The owner's lease ran out: take over, keeping the original kind and
	// creation time as the SQL takeover does.
	r := e.rec
	r.LeaseUntil = t.Add(lease)
	c.set(r, r.LeaseUntil.Add(claimGrace))
	return &r, true, true
}

func (s *sqliteStore) BeginHook(ctx context.Context, hookID, kind string, lease time.Duration) (*HookRecord, bool, error) {
	if err := checkBeginHook(hookID, lease); err != nil {
		return nil, false, err
	}
	if s.closed.Load() {
		return nil, false, fmt.Errorf("store: begin hook %s: %w", hookID, errStoreClosed)
	}
	c := s.claims
	c.mu.Lock()
	c.prune(now())
	rec, started, known := c.decide(hookID, lease, now())
	c.mu.Unlock()
	if known {
		return rec, started, nil
	}
	// Not seen in this process lately: it may have been answered before
	// (a retry after a restart, or long after), or claimed by an older
	// version that wrote claims to the table. The filter rules that out for
	// nearly every new id without a read.
	var stored *HookRecord
	if s.filter.mayHave(hookID) {
		var err error
		stored, err = getHook(ctx, &stmtQuerier{stmts: s.reads}, hookID)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return nil, false, fmt.Errorf("store: begin hook %s: %w", hookID, err)
		}
	}
	t := now()
	c.mu.Lock()
	defer c.mu.Unlock()
	// Someone may have claimed or finished it while we read.
	if rec, started, known := c.decide(hookID, lease, t); known {
		return rec, started, nil
	}
	if stored != nil && (stored.Response != nil || stored.LeaseUntil.After(t)) {
		return stored, false, nil
	}
	r := HookRecord{ID: hookID, Kind: kind, CreatedAt: t, LeaseUntil: t.Add(lease)}
	if stored != nil {
		r.Kind, r.CreatedAt = stored.Kind, stored.CreatedAt
	}
	c.set(r, r.LeaseUntil.Add(claimGrace))
	return &r, true, nil
}

func (s *sqliteStore) FinishHook(ctx context.Context, hookID string, response []byte) error {
	if response == nil {
		response = []byte{}
	}
	c := s.claims
	c.mu.Lock()
	e := c.entries[hookID]
	var claim HookRecord
	if e != nil {
		claim = e.rec
	}
	c.mu.Unlock()
	if e != nil && claim.Response != nil {
		return nil // already answered: the first answer stays
	}
	op := &hookOp{id: hookID, response: response}
	if e != nil {
		op.claim = &claim
	}
	if err := s.hooks.do(ctx, op); err != nil {
		return fmt.Errorf("store: finish hook %s: %w", hookID, err)
	}
	if op.err != nil {
		return op.err
	}
	s.filter.add(hookID)
	if op.rec != nil {
		c.mu.Lock()
		c.set(*op.rec, now().Add(finishedKeep))
		c.mu.Unlock()
	}
	return nil
}

func (s *sqliteStore) GetHook(ctx context.Context, hookID string) (*HookRecord, error) {
	c := s.claims
	c.mu.Lock()
	if e := c.entries[hookID]; e != nil {
		r := e.rec
		c.mu.Unlock()
		return &r, nil
	}
	c.mu.Unlock()
	h, err := getHook(ctx, &stmtQuerier{stmts: s.reads}, hookID)
	if err != nil {
		return nil, fmt.Errorf("store: get hook %s: %w", hookID, err)
	}
	return h, nil
}

// Prune also forgets the answers it deleted that are still kept in memory,
// so GetHook agrees with the table.
func (s *sqliteStore) Prune(ctx context.Context, now time.Time, r Retention) (Pruned, error) {
	p, err := s.base.Prune(ctx, now, r)
	if r.Hooks > 0 {
		cut := now.Add(-r.Hooks)
		c := s.claims
		c.mu.Lock()
		for id, e := range c.entries {
			if e.rec.Response != nil && e.rec.CreatedAt.Before(cut) {
				delete(c.entries, id)
			}
		}
		c.mu.Unlock()
	}
	return p, err
}
