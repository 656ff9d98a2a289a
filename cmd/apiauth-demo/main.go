// Command apiauth-demo is a small orders API protected by the apiauth
// library: request IDs, API-key authentication, rate limits by tier,
// scopes, tenant isolation and RFC 9457 problem responses, each one line of
// wiring in server.go.
//
// Usage:
//
//	apiauth-demo [-addr 127.0.0.1:8080] [-config demo.json]
//
// Without -config, or with a config that lists no keys, it generates API
// keys for two tenants and prints them, with ready-to-paste curl lines,
// before the line "listening on http://HOST:PORT". Logs go to stderr and
// never show a key.
//
// Every /v1/ route is rate limited by the caller's tier: the library's
// presets free (the tier of a key that names none), pro and enterprise,
// and those of the config's "tiers" section, which adds tiers or
// overrides presets. A tier is a list of 1 to 8 limits, all enforced;
// the first that binds is the one the X-RateLimit-* headers describe:
//
//	"tiers": {
//	  "free": [{"name": "hour", "requests": 1000, "window": "1h"},
//	           {"name": "burst", "requests": 50, "window": "1s"}],
//	  "tiny": [{"name": "default", "requests": 5, "window": "1m"}]
//	}
//
// "requests" is a positive integer, or the string "unlimited" for a limit
// that never binds (and is left out of the headers); "window" is a Go
// duration from 1ns to 8784h (366 days); "name" (default "default", unique
// in its tier) labels the limit in the RateLimit-Policy header. The counts
// live in this process's memory. "trusted_proxies" lists the networks
// ("10.0.0.0/8") or addresses of the proxies in front of the server, whose
// X-Forwarded-For the rate limiter believes when it keys a caller without
// credentials by client IP (no /v1/ route admits one yet).
//
// See DEMO.md for the routes and the config file.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/apiauth/apiauth"
)

// Exit codes of run.
const (
	exitOK     = 0 // graceful shutdown
	exitFailed = 1 // the server could not start or serve
	exitUsage  = 2 // bad flags or config
)

// shutdownTimeout bounds how long in-flight requests get to finish.
const shutdownTimeout = 10 * time.Second

// main runs the server until SIGINT or SIGTERM and exits with run's code.
func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole program: it serves until ctx is cancelled and returns
// the exit code. stdout gets the generated keys and the "listening on"
// line; stderr gets the logs.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	flags, err := parseFlags(args, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	cfg, err := loadConfig(flags.config)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))

	// The keys: imported from the config file, or generated for the demo
	// when it names none.
	keys := apiauth.NewMemoryKeys()
	keys.Prefix = "sk_live"
	var demoKeys []demoKey
	if len(cfg.Keys) > 0 {
		err = importKeys(ctx, keys, cfg.Keys, log)
	} else {
		demoKeys, err = createDemoKeys(ctx, keys)
	}
	if err != nil {
		log.Error("cannot set up keys", "error", err)
		return exitFailed
	}

	// The rate-limit state of every /v1/ route, built here and only here:
	// the in-memory store counts for this process alone; a shared store
	// (Redis, for many instances) would be chosen at this line.
	var limits apiauth.Store = apiauth.NewMemoryStore()
	log.Info("rate limits", "store", "memory", "tiers", tierNames(cfg.Tiers))

	// Bind first, so that what is printed names the real port.
	ln, err := net.Listen("tcp", flags.addr)
	if err != nil {
		log.Error("cannot listen", "addr", flags.addr, "error", err)
		return exitFailed
	}
	printDemoKeys(stdout, clientURL(ln.Addr()), demoKeys)
	fmt.Fprintf(stdout, "listening on http://%s\n", ln.Addr())

	srv := &http.Server{
		Handler:           newHandler(cfg, keys, limits, log),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return serve(ctx, srv, ln, log)
}

// cliFlags are the command-line flags.
type cliFlags struct {
	addr   string
	config string
}

// parseFlags parses args. Its errors are one line; -h prints the usage to
// stdout and returns flag.ErrHelp.
func parseFlags(args []string, stdout io.Writer) (cliFlags, error) {
	var f cliFlags
	fs := flag.NewFlagSet("apiauth-demo", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&f.addr, "addr", "127.0.0.1:8080", "`address` to listen on; port 0 picks a free port")
	fs.StringVar(&f.config, "config", "", "JSON config `file` (see DEMO.md); without keys in it, demo keys are generated")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stdout, "usage: apiauth-demo [-addr host:port] [-config file]")
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return f, err
		}
		return f, fmt.Errorf("flags: %v", err)
	}
	if fs.NArg() > 0 {
		return f, fmt.Errorf("flags: unexpected argument %q", fs.Arg(0))
	}
	if _, _, err := net.SplitHostPort(f.addr); err != nil {
		return f, fmt.Errorf("flags: -addr %q: want host:port, such as 127.0.0.1:8080", f.addr)
	}
	return f, nil
}

// serve serves on ln until ctx is cancelled, then shuts down gracefully:
// no new connections, and in-flight requests get shutdownTimeout to
// finish.
func serve(ctx context.Context, srv *http.Server, ln net.Listener, log *slog.Logger) int {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		log.Error("server failed", "error", err)
		return exitFailed
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Error("shutdown incomplete", "error", err)
		return exitFailed
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		log.Error("server failed", "error", err)
		return exitFailed
	}
	log.Info("stopped")
	return exitOK
}
