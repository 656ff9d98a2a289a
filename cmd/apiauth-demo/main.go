// Command apiauth-demo is a small orders API protected by the apiauth
// library: request IDs, authentication by API key or JWT access token, an
// OAuth 2.0 token endpoint, rate limits by tier, throttling of failed
// authentications, scopes, tenant isolation and RFC 9457 problem
// responses, each one line of wiring in server.go.
//
// Usage:
//
//	apiauth-demo [-addr 127.0.0.1:8080] [-config demo.json] [-redis 127.0.0.1:6379]
//	             [-db sqlite:demo.db | -db postgres://user:pass@host/db]
//
// Without -config, or with a config that lists no keys, it generates API
// keys for two tenants; without clients in the config, two OAuth clients
// of tenant acme (svc-acme, confidential, and demo-app, public); without
// users in the config, the user alice of the demo's sign-in page. It
// prints them, with ready-to-paste curl lines and a walk-through of the
// authorization-code flow, before the line "listening on
// http://HOST:PORT". Logs go to stderr and never show a key, secret,
// password, code or token.
//
// # Authorization code
//
// GET /oauth/authorize is the authorization endpoint of the
// authorization-code flow with PKCE (package oauth's AuthorizeHandler): it
// sends a browser that is not signed in to the demo's sign-in page, GET
// /demo/login, for the config's "users" (sessions in memory, an hour),
// then shows the consent page, whose form POSTs back to it; a consent is
// remembered. GET /demo/callback stands in for an application's redirect
// endpoint: it shows the code, state and iss it receives, and the curl
// line that redeems the code at POST /oauth/token, which also refreshes
// tokens, rotating the refresh token. The sign-in page is a demo: a real
// application brings its own sign-in, through oauth.Users.
//
// # Keys and clients
//
// The API keys, OAuth clients and the authorization-code flow's grants
// (codes, refresh tokens, consents) live in this process's memory, and are
// lost at exit, unless -db names a database (package sqlstore):
//
//   - sqlite:PATH, a SQLite file (pure Go, no cgo), created on first start
//     in an existing directory (WAL mode; writers wait up to 5 s for
//     each other). Instances sharing the file see each other's
//     revocations within 0.5 s.
//   - postgres://… or postgresql://…, a PostgreSQL database shared by
//     every instance pointed at it (driver pgx). A key revoked or rotated
//     through one instance is refused by every other at once, by
//     LISTEN/NOTIFY; should notifications be lost, within 5 s (the cache
//     TTL) at worst.
//
// The schema is created or upgraded at start-up, which the database must
// answer within 3 s, else the server exits with status 1. Only SHA-256
// digests of keys, client secrets, codes and refresh tokens are stored.
// Keys created, rotated and revoked through the admin routes are kept; the
// admin listing then shows each key's last_used_at (to the minute, written
// at most once a minute and at shutdown; null for a key never used).
//
// On each start the config's keys and clients are imported as in memory,
// except that one the database already holds, by ID or by key, is kept as
// it is: a key revoked through the admin routes stays revoked, and an
// entry changed in the config does not change the stored record (a
// warning says so). Without config keys, demo keys are generated only
// into a database that holds no key of the demo's tenants, and each demo
// client only when the database does not hold it: a restart on the same
// database generates none, says so in a log line, and the keys and secret
// printed at the first start keep working. Users and sign-in sessions
// always live in memory: without config users, alice gets a new password
// at every start, and her grants in the database outlive it.
//
// # Access tokens
//
// POST /oauth/token is an RFC 6749 token endpoint: client_credentials for
// the config's "clients" (each secret at least 32 characters; the server
// keeps only its SHA-256 digest), and the RFC 8693 exchange of an API key.
// POST /v1/auth/token exchanges an API key sent as {"apiKey": "…"}; it
// needs no Authorization header. Tokens are RS256 JWTs (RFC 9068) signed
// with a key generated at start-up and published at GET
// /.well-known/jwks.json; the "issuer" section sets their "iss" (default:
// this server's http://HOST:PORT), "aud" (default "demo-api") and
// lifetime (token_ttl, default 1h, at most 24h). A token exchanged from an
// API key stops working as soon as the key is revoked.
//
// Every /v1/ route accepts API keys, the demo's own tokens and those of the
// config's "trusted_issuers": identity providers whose keys are fetched
// from their jwks_url (https, or plain http to a loopback host only), with
// the claims named by tenant_claim and tier_claim ("tenant" and "tier" by
// default) mapped to the caller's tenant and tier. When a provider cannot
// be reached and a token names a key not yet fetched, the answer is 503
// with Retry-After.
//
// # Rate limits
//
// Every /v1/ route is rate limited by the caller's tier: the library's
// presets free (the tier of a credential that names none), pro and
// enterprise, and those of the config's "tiers" section, which adds tiers
// or overrides presets. A tier is a list of 1 to 8 limits, all enforced;
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
// in its tier) labels the limit in the RateLimit-Policy header. The token
// routes, which take no bearer token, are limited per client IP on the
// free tier.
//
// Failed authentications are limited separately, per client IP: after
// "auth_failures" (default {"requests": 20, "window": "1m"}) rejected
// credentials, every request from that IP that carries a credential, even
// a good one, is refused with 429 and Retry-After until the limit
// recovers. "trusted_proxies" lists the networks ("10.0.0.0/8") or
// addresses of the proxies in front of the server, whose X-Forwarded-For
// names the client IP; without it, the peer address does.
//
// The counts live in this process's memory, or with -redis in a Redis
// server shared by every instance pointed at it: each request waits for
// Redis at most 50 ms, and while Redis fails each instance falls back to
// counting in its own memory. Redis must answer at start-up, else the
// server exits with status 1.
//
// Exit status: 0 after SIGINT or SIGTERM, 1 when the server cannot start
// or serve (such as Redis or the database not answering), 2 for bad flags
// (such as a -db that is neither sqlite:PATH nor a postgres:// URL) or
// config (one line on stderr naming the field). README.md beside this file
// documents the routes and the config file.
package main

import (
	"cmp"
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
	"github.com/apiauth/apiauth/oauth"
	"github.com/redis/go-redis/v9"
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
	// go-redis logs through a process-wide logger: set it here, once.
	redis.SetLogger(redisLogger{slog.New(slog.NewTextHandler(os.Stderr, nil))})
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
	defer cfg.Close()
	log := slog.New(slog.NewTextHandler(stderr, nil))

	// The rate-limit and failed-authentication counts, kept here and only
	// here: in this process's memory, or with -redis in a Redis server
	// that every instance shares.
	limits, closeLimits, err := newRateLimitStore(ctx, flags.redis)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitFailed
	}
	defer closeLimits()

	// The API keys and OAuth clients, kept here and only here: in this
	// process's memory, or with -db in a SQLite file or a PostgreSQL
	// database that every instance shares.
	creds, err := newCredentialStore(ctx, flags.db, log)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitFailed
	}
	defer creds.close()

	keys := apiauth.NewKeys(creds.keys)
	keys.Prefix = "sk_live"
	gen, err := setUpCredentials(ctx, cfg, keys, creds.clients, log)
	if err != nil {
		log.Error("cannot set up credentials", "error", err)
		return exitFailed
	}

	// Bind first, so that what is printed names the real port.
	ln, err := net.Listen("tcp", flags.addr)
	if err != nil {
		log.Error("cannot listen", "addr", flags.addr, "error", err)
		return exitFailed
	}
	base := clientURL(ln.Addr())

	// The demo's own sign-in, which the authorization endpoint asks who
	// the user is: the config's users, sessions in memory.
	signIn := newSignIn(cfg, cfg.Users, creds.clients, limits, log)
	issuer, verifier, code := setUpTokens(cfg, base, keys, creds, signIn, limits, stderr, log)
	if code != exitOK {
		ln.Close()
		return code
	}

	log.Info("rate limits", "store", storeName(flags.redis), "tiers", tierNames(cfg.Tiers),
		"auth_failures", fmt.Sprintf("%d/%v", cfg.AuthFailures.Limits[0].Requests, cfg.AuthFailures.Limits[0].Window))
	printDemoCredentials(stdout, base, gen)
	fmt.Fprintf(stdout, "listening on http://%s\n", ln.Addr())

	h := newHandler(cfg, backends{
		Keys:     keys,
		LastUsed: creds.lastUsed,
		Issuer:   issuer,
		Verifier: verifier,
		Limits:   limits,
		Ready:    readiness(creds, limits),
		SignIn:   signIn,
		Callback: gen.callback,
	}, log)
	return serve(ctx, newServer(h, log), ln, log)
}

// readiness is what GET /readyz checks: the database with -db, and Redis
// with -redis (a store that can say whether it answers).
func readiness(creds *credentialStore, limits apiauth.Store) map[string]func(context.Context) error {
	checks := map[string]func(context.Context) error{}
	if creds.db != nil {
		checks["database"] = creds.db.PingContext
	}
	if p, ok := limits.(interface{ Ping(context.Context) error }); ok {
		checks["redis"] = p.Ping
	}
	return checks
}

// newServer is the demo's HTTP server: timeouts on every phase, and a
// header limit above the token-length cap, so that an oversized token
// gets the library's problem response rather than net/http's 431.
func newServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// setUpCredentials stores the config file's API keys and OAuth clients (a
// key or client already in the database is kept as it is, revoked or not),
// or, when the config names none, generates the demo's: only into a
// database that holds none yet, so that a restart on the same -db adds no
// keys (two of them admin) and keeps those printed the first time. Without
// users in the config, it generates the demo user into cfg.Users: users
// live in memory only, so that one is new at every start.
func setUpCredentials(ctx context.Context, cfg *Config, keys *apiauth.Keys, clients oauth.ClientStore, log *slog.Logger) (*generated, error) {
	g := &generated{}
	var err error
	if g.keys, err = setUpKeys(ctx, cfg, keys, log); err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	if err := setUpClients(ctx, cfg, clients, g, log); err != nil {
		return nil, fmt.Errorf("clients: %w", err)
	}
	if len(cfg.Users) == 0 {
		if g.user, err = generateDemoUser(); err != nil {
			return nil, fmt.Errorf("users: %w", err)
		}
		cfg.Users = []demoUser{g.user.user}
	}
	return g, nil
}

// setUpTokens makes the token and authorization endpoints, whose issuer is
// by default this server's URL (base) and which asks users who is signed
// in and counts failed client authentications in limits (shared with
// every instance when it is Redis), and the verifier of every JWT /v1/
// accepts: the endpoint's own and the trusted issuers'. It returns the
// exit code of a failure, or exitOK.
func setUpTokens(cfg *Config, base string, keys *apiauth.Keys, creds *credentialStore, users oauth.Users, limits apiauth.Store, stderr io.Writer, log *slog.Logger) (*oauth.Issuer, *apiauth.JWTVerifier, int) {
	cfg.Issuer.Issuer = cmp.Or(cfg.Issuer.Issuer, base)
	if err := checkTrustedIssuers(cfg); err != nil {
		fmt.Fprintln(stderr, err)
		return nil, nil, exitUsage
	}
	issuer, err := newIssuer(cfg, keys, creds, users, limits, log)
	if err != nil {
		log.Error("cannot set up the token issuer", "error", err)
		return nil, nil, exitFailed
	}
	verifier, err := newVerifier(cfg, issuer, keys, log)
	if err != nil {
		log.Error("cannot set up the token verifier", "error", err)
		return nil, nil, exitFailed
	}
	return issuer, verifier, exitOK
}

// cliFlags are the command-line flags.
type cliFlags struct {
	addr   string
	config string
	redis  string
	db     dbSpec
}

// parseFlags parses args. Its errors are one line; -h prints the usage to
// stdout and returns flag.ErrHelp.
func parseFlags(args []string, stdout io.Writer) (cliFlags, error) {
	var f cliFlags
	fs := flag.NewFlagSet("apiauth-demo", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&f.addr, "addr", "127.0.0.1:8080", "`address` to listen on; port 0 picks a free port")
	fs.StringVar(&f.config, "config", "", "JSON config `file` (see cmd/apiauth-demo/README.md); without keys or clients in it, demo ones are generated")
	fs.StringVar(&f.redis, "redis", "", "keep rate-limit counts in the Redis server at `host:port`, shared by every instance\n"+
		"pointed at it; it must answer PING at start-up (else exit 1). Each request waits\n"+
		"for Redis at most 50 ms; while Redis fails, each instance falls back to counting\n"+
		"in its own memory (neither fail-open nor fail-closed). Default: in memory")
	var db string
	fs.StringVar(&db, "db", "", "keep API keys, OAuth clients and grants in the database at `URL`, shared by every instance\n"+
		"pointed at it: sqlite:PATH (a SQLite file, created on first start) or a postgres://\n"+
		"URL. Revocations reach every instance within a second, and outlive restarts.\n"+
		"It must answer at start-up (else exit 1). Config keys and clients already in it\n"+
		"are kept as they are: a revoked key stays revoked. Default: in memory, lost at exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stdout, "usage: apiauth-demo [-addr host:port] [-config file] [-redis host:port] [-db sqlite:PATH|postgres://…]")
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
	if f.redis != "" {
		if _, _, err := net.SplitHostPort(f.redis); err != nil {
			return f, fmt.Errorf("flags: -redis %q: want host:port, such as 127.0.0.1:6379", f.redis)
		}
	}
	var err error
	f.db, err = parseDBFlag(db)
	return f, err
}

// storeName names the rate-limit store for the logs.
func storeName(redisAddr string) string {
	if redisAddr == "" {
		return "memory"
	}
	return "redis " + redisAddr
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
