package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/apiauth/apiauth"
	"github.com/apiauth/apiauth/redisstore"
	"github.com/redis/go-redis/v9"
)

// redisPingTimeout bounds the start-up check of the Redis server.
const redisPingTimeout = 2 * time.Second

// newRateLimitStore returns the store that keeps the rate-limit and
// failed-authentication counts, and a function that releases it.
//
// Without a Redis address the counts live in this process's memory. With
// one they live in Redis, shared by every instance pointed at it; each
// request waits for Redis at most redisstore.DefaultBudget (50 ms), and
// while Redis fails the instance falls back to counting in its own memory
// (fail over to local limits, neither open nor closed), resuming the
// shared counts when Redis answers again. Redis must answer a PING at
// start-up: a typo in the address is an error, not a silent fallback.
func newRateLimitStore(ctx context.Context, redisAddr string) (apiauth.Store, func(), error) {
	if redisAddr == "" {
		return apiauth.NewMemoryStore(), func() {}, nil
	}
	client := redis.NewClient(&redis.Options{
		Addr: redisAddr,
		// Let the store's per-request budget cut socket reads short.
		ContextTimeoutEnabled: true,
		DialTimeout:           time.Second,
		// The store's budget already bounds each call; a retry inside it
		// only delays the fallback.
		MaxRetries: -1,
	})
	pctx, cancel := context.WithTimeout(ctx, redisPingTimeout)
	defer cancel()
	// A plain connection first: when nothing listens, that is the whole
	// error, without go-redis's own log line about its dial attempts.
	conn, err := (&net.Dialer{}).DialContext(pctx, "tcp", redisAddr)
	if err == nil {
		_ = conn.Close()
		err = client.Ping(pctx).Err()
	}
	if err != nil {
		_ = client.Close()
		return nil, nil, fmt.Errorf("redis: no answer to PING from %s within %v: %v", redisAddr, redisPingTimeout, err)
	}
	store := redisstore.New(client, redisstore.WithFallback(apiauth.NewMemoryStore()))
	return store, func() { _ = client.Close() }, nil
}

// redisLogger passes go-redis's own log lines, such as a failed dial while
// Redis is down, to slog as warnings, so that stderr keeps one format.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, fmt.Sprintf(format, v...))
}
