package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apiauth/apiauth/sqlstore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// logRecorder is a slog.Handler that keeps the store's reports of a
// background task, as "failing" or "recovered", and signals each.
type logRecorder struct {
	task string
	mu   sync.Mutex
	got  []string
	ch   chan string
}

func newLogRecorder(task string) *logRecorder {
	return &logRecorder{task: task, ch: make(chan string, 100)}
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *logRecorder) WithGroup(string) slog.Handler            { return r }

func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	task := ""
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == "task" {
			task = a.Value.String()
		}
		return true
	})
	if task != r.task {
		return nil
	}
	var what string
	switch {
	case strings.Contains(rec.Message, "failing") && rec.Level == slog.LevelWarn:
		what = "failing"
	case strings.Contains(rec.Message, "recovered") && rec.Level == slog.LevelInfo:
		what = "recovered"
	default:
		what = fmt.Sprintf("%v %s", rec.Level, rec.Message)
	}
	r.mu.Lock()
	r.got = append(r.got, what)
	r.mu.Unlock()
	r.ch <- what
	return nil
}

// reports returns what was reported so far.
func (r *logRecorder) reports() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.got...)
}

// next waits for the next report and checks it is want.
func (r *logRecorder) next(t *testing.T, want string) {
	t.Helper()
	select {
	case got := <-r.ch:
		require.Equal(t, want, got, "reports so far: %v", r.reports())
	case <-time.After(10 * time.Second):
		t.Fatalf("the store did not report the listener %s within 10s; reports so far: %v", want, r.reports())
	}
}

// scriptedListener fails its first calls, then listens: it calls ready
// (if it is given one) and notifies once (if told to), then waits for the
// store to close. It sends the number of each call on calls once that
// call has done what it does before it returns or waits.
type scriptedListener struct {
	failures int
	notifies bool
	calls    chan int
	n        int
}

var errLost = errors.New("connection lost")

func (l *scriptedListener) run(ctx context.Context, ready func(), notify func(string)) error {
	l.n++
	if l.n <= l.failures {
		l.calls <- l.n
		return errLost
	}
	if ready != nil {
		ready()
	}
	if l.notifies {
		notify(strings.Repeat("00", 32))
	}
	l.calls <- l.n
	<-ctx.Done()
	return ctx.Err()
}

func (l *scriptedListener) Listen(ctx context.Context, _ string, notify func(string)) error {
	return l.run(ctx, nil, notify)
}

// readyListener is a scriptedListener that is a sqlstore.ReadyListener.
type readyListener struct{ *scriptedListener }

func (l readyListener) ListenReady(ctx context.Context, _ string, ready func(), notify func(string)) error {
	return l.run(ctx, ready, notify)
}

// TestListenerReportsFailureAndRecovery: a listener that loses its
// connection, or fails to begin with, is reported once as failing, and
// once as recovered when it listens again, however many attempts that
// took: at once when it says so (a ReadyListener), else at its first
// notification.
func TestListenerReportsFailureAndRecovery(t *testing.T) {
	cases := []struct {
		name     string
		ready    bool // a ReadyListener
		failures int
		notifies bool
		want     []string
	}{
		{name: "ReadyListener", ready: true, failures: 1, want: []string{"failing", "recovered"}},
		{name: "ReadyListenerFailsTwice", ready: true, failures: 2, notifies: true, want: []string{"failing", "recovered"}},
		{name: "ReadyListenerNeverFails", ready: true, notifies: true, want: nil},
		{name: "PlainListenerNotifies", failures: 1, notifies: true, want: []string{"failing", "recovered"}},
		{name: "PlainListenerFailsTwiceNotifies", failures: 2, notifies: true, want: []string{"failing", "recovered"}},
		// Without a sign that it listens, no recovery is claimed.
		{name: "PlainListenerSilent", failures: 1, want: []string{"failing"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			db, _ := openSQLite(t)
			logs := newLogRecorder("listen")
			sl := &scriptedListener{failures: tc.failures, notifies: tc.notifies, calls: make(chan int, 100)}
			var l sqlstore.Listener = sl
			if tc.ready {
				l = readyListener{sl}
			}
			newStore(t, db, sqlstore.WithPollInterval(0), sqlstore.WithLastUsedInterval(0),
				sqlstore.WithLogger(slog.New(logs)), sqlstore.WithListener(l))
			for _, want := range tc.want {
				logs.next(t, want)
			}
			for want := 1; want <= tc.failures+1; want++ {
				require.Equal(t, want, <-sl.calls)
			}
			// The call that listens has done all it does.
			assert.Equal(t, tc.want, logs.reports())
		})
	}
}

// TestPostgresListenerRecovers: the listener's connection is cut twice
// (pg_terminate_backend); each time the store reports once that the
// listener is failing and once that it recovered, and notifications reach
// it again.
func TestPostgresListenerRecovers(t *testing.T) {
	u := postgresURL(t)
	admin := openPostgresURL(t, u)
	app := fmt.Sprintf("apiauth_listen_%d", time.Now().UnixNano())
	pu, err := url.Parse(u)
	require.NoError(t, err)
	q := pu.Query()
	q.Set("application_name", app)
	pu.RawQuery = q.Encode()

	logs := newLogRecorder("listen")
	s := newPostgresStore(t, openPostgresURL(t, pu.String()), sqlstore.WithPollInterval(0),
		sqlstore.WithCacheTTL(time.Minute), sqlstore.WithLogger(slog.New(logs)))
	other := newStore(t, admin)

	// listenerPID returns the backend that LISTENs for s, or 0.
	listenerPID := func() int {
		var pid int
		err := admin.QueryRow(`SELECT pid FROM pg_stat_activity
WHERE application_name = $1 AND query LIKE 'LISTEN %' AND state = 'idle'`, app).Scan(&pid)
		if err != nil {
			return 0
		}
		return pid
	}
	for round := 1; round <= 2; round++ {
		var pid int
		eventually(t, 10*time.Second, "the listener is connected", func() bool {
			pid = listenerPID()
			return pid != 0
		})
		var terminated bool
		require.NoError(t, admin.QueryRow("SELECT pg_terminate_backend($1)", pid).Scan(&terminated))
		require.True(t, terminated)
		logs.next(t, "failing")
		logs.next(t, "recovered")
		waitListening(t, other, s)
	}
	assert.Equal(t, []string{"failing", "recovered", "failing", "recovered"}, logs.reports())
}
