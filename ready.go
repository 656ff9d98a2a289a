package apiauth

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// readyTimeout bounds a readiness probe: a dependency that has not
// answered by then is not ready.
const readyTimeout = 2 * time.Second

// Ready returns the handler of a readiness probe, usually served at
// /readyz: for GET and HEAD it runs every check at once, each a
// dependency's Ping (sqlstore.Store and redisstore.Store have one, and so
// has JWKS) under its name, and answers 200 {"status":"ready"} when all
// return nil within 2 seconds, or else a 503 temporarily_unavailable
// problem with Retry-After whose detail names the dependencies that did
// not answer, sorted, and nothing of their errors. A process that should
// keep serving while an identity provider is down leaves that JWKS out.
func Ready(checks map[string]func(context.Context) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			WriteError(w, r, http.StatusMethodNotAllowed, "method_not_allowed", "Use GET.")
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		failed := failing(ctx, checks)
		w.Header().Set("Cache-Control", "no-store")
		if len(failed) > 0 {
			w.Header().Set("Retry-After", "5")
			WriteError(w, r, http.StatusServiceUnavailable, CodeUnavailable, "Not ready: "+strings.Join(failed, ", ")+".")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			_, _ = w.Write([]byte("{\"status\":\"ready\"}\n"))
		}
	})
}

// failing runs checks concurrently and returns the sorted names of those
// that fail or do not answer before ctx ends.
func failing(ctx context.Context, checks map[string]func(context.Context) error) []string {
	var (
		mu     sync.Mutex
		failed []string
		wg     sync.WaitGroup
	)
	for name, check := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			done := make(chan error, 1)
			go func() { done <- check(ctx) }()
			var err error
			select {
			case err = <-done:
			case <-ctx.Done():
				err = ctx.Err()
			}
			if err != nil {
				mu.Lock()
				failed = append(failed, name)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	slices.Sort(failed)
	return failed
}
