package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"
)

// hookWriter commits SQLite hook answers in groups. SQLite has one writer:
// a transaction per answer made concurrent hooks queue for the write
// connection, and parsing the statement again on every call cost more CPU
// than running it. Here one goroutine takes whatever answers are waiting,
// runs them with statements prepared once, in one transaction, and commits
// them together, so a burst of hooks costs one commit instead of one each.
// Each op has the semantics of its base method (storeHook, or finishHook
// for a hook claimed in the table), statement for statement, in arrival
// order. Claims need no writer: on SQLite they live in memory
// (sqlitehooks.go).
type hookWriter struct {
	b     *base
	ops   chan *hookOp
	quit  chan struct{}
	done  chan struct{}
	stmts map[string]*sql.Stmt // prepared on the write connection
	stop  sync.Once
}

// hookOp is one FinishHook waiting for its group.
type hookOp struct {
	ctx      context.Context
	id       string
	response []byte
	// claim is the in-memory claim the whole record is written from; nil:
	// update a row claimed in the table (by an earlier version).
	claim *HookRecord

	rec  *HookRecord // the stored record, when claim was set
	err  error
	done chan struct{}
}

const (
	// maxHookGroup bounds one transaction, so a long queue cannot hold the
	// write connection from other writers for long.
	maxHookGroup = 128
	// hookGroupTimeout bounds one group's transaction; above the busy
	// timeout, so a lock held by another process is waited for first.
	hookGroupTimeout = 15 * time.Second
)

var errStoreClosed = errors.New("store is closed")

func newHookWriter(ctx context.Context, b *base) (*hookWriter, error) {
	w := &hookWriter{
		b:     b,
		ops:   make(chan *hookOp, maxHookGroup),
		quit:  make(chan struct{}),
		done:  make(chan struct{}),
		stmts: map[string]*sql.Stmt{},
	}
	for _, q := range []string{sqlFinishHook, sqlGetHook, sqlStoreHook} {
		st, err := b.w.PrepareContext(ctx, b.q(q))
		if err != nil {
			w.closeStmts()
			return nil, fmt.Errorf("store: prepare hook statements: %w", err)
		}
		w.stmts[q] = st
	}
	go w.run()
	return w, nil
}

// do queues op and waits for its group to commit, or for ctx.
func (w *hookWriter) do(ctx context.Context, op *hookOp) error {
	op.ctx = ctx
	op.done = make(chan struct{})
	select {
	case w.ops <- op:
	case <-ctx.Done():
		return ctx.Err()
	case <-w.quit:
		return errStoreClosed
	}
	select {
	case <-op.done:
		return nil
	case <-ctx.Done():
		// The group may still run op: an answer stored late is still
		// the answer.
		return ctx.Err()
	case <-w.done:
		select {
		case <-op.done:
			return nil
		default:
			return errStoreClosed
		}
	}
}

func (w *hookWriter) run() {
	defer close(w.done)
	group := make([]*hookOp, 0, maxHookGroup)
	for {
		select {
		case op := <-w.ops:
			group = append(group[:0], op)
		case <-w.quit:
			return
		}
		// Let the goroutines that are about to queue an op run first: a
		// commit costs about as much as the statements of several hooks.
		runtime.Gosched()
	fill:
		for len(group) < maxHookGroup {
			select {
			case op := <-w.ops:
				group = append(group, op)
			default:
				break fill
			}
		}
		w.commit(group)
		for _, op := range group {
			close(op.done)
		}
		clear(group)
	}
}

// commit runs group in one transaction. When anything fails, the
// transaction is rolled back and each op runs on its own, so every caller
// gets its own error and no op is lost to another's.
func (w *hookWriter) commit(group []*hookOp) {
	ctx, cancel := context.WithTimeout(context.Background(), hookGroupTimeout)
	defer cancel()
	if len(group) == 1 {
		w.apply(ctx, &stmtQuerier{stmts: w.stmts}, group[0])
		return
	}
	tx, err := w.b.w.BeginTx(ctx, nil)
	if err != nil {
		w.oneByOne(ctx, group)
		return
	}
	q := &stmtQuerier{tx: tx, stmts: w.stmts}
	for _, op := range group {
		if ran := w.apply(ctx, q, op); ran && op.err != nil {
			_ = tx.Rollback()
			w.oneByOne(ctx, group)
			return
		}
	}
	if err := tx.Commit(); err != nil {
		w.oneByOne(ctx, group)
	}
}

func (w *hookWriter) oneByOne(ctx context.Context, group []*hookOp) {
	q := &stmtQuerier{stmts: w.stmts}
	for _, op := range group {
		op.rec, op.err = nil, nil
		w.apply(ctx, q, op)
	}
}

// apply runs op unless its caller has given up. Statements run under the
// group's context, not the caller's, so one caller's deadline cannot abort
// a statement inside the others' transaction. ran is false when op was
// skipped.
func (w *hookWriter) apply(ctx context.Context, q querier, op *hookOp) (ran bool) {
	if err := op.ctx.Err(); err != nil {
		op.err = err
		return false
	}
	if op.claim != nil {
		op.rec, op.err = w.b.storeHook(ctx, q, op.claim, op.response)
	} else {
		op.err = w.b.finishHook(ctx, q, op.id, op.response)
	}
	return true
}

// close stops the writer after the group in progress; queued ops fail with
// errStoreClosed.
func (w *hookWriter) close() {
	w.stop.Do(func() {
		close(w.quit)
		<-w.done
		w.closeStmts()
	})
}

func (w *hookWriter) closeStmts() {
	for _, st := range w.stmts {
		_ = st.Close()
	}
}

// stmtQuerier runs the hook SQL through the writer's prepared statements,
// inside tx when it is set.
type stmtQuerier struct {
	tx    *sql.Tx
	stmts map[string]*sql.Stmt
	bound map[string]*sql.Stmt // the statements bound to tx
}

func (s *stmtQuerier) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	st, ok := s.stmts[query]
	if !ok {
		return nil, fmt.Errorf("store: hook statement not prepared: %.40q", query)
	}
	if s.tx == nil {
		return st, nil
	}
	if b, ok := s.bound[query]; ok {
		return b, nil
	}
	if s.bound == nil {
		s.bound = map[string]*sql.Stmt{}
	}
	b := s.tx.StmtContext(ctx, st)
	s.bound[query] = b
	return b, nil
}

func (s *stmtQuerier) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := s.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

func (s *stmtQuerier) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := s.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}
