package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// startTimeout bounds how long a test waits for the server's "listening
// on" line or for run to return.
const startTimeout = 5 * time.Second

// lineBuffer is an io.Writer safe for concurrent use that signals when a
// complete line starting with "listening on " has been written.
type lineBuffer struct {
	mu        sync.Mutex
	buf       bytes.Buffer
	listening chan struct{}
	seen      bool
}

func newLineBuffer() *lineBuffer { return &lineBuffer{listening: make(chan struct{})} }

func (b *lineBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	// Only the line p continues and the lines it adds can complete the
	// listening line: matching the whole buffer on every write made
	// logging quadratic, and slow enough under -race and load for
	// requests to time out waiting on the logger.
	start := bytes.LastIndexByte(b.buf.Bytes(), '\n') + 1
	n, err := b.buf.Write(p)
	if !b.seen && listenLine.Match(b.buf.Bytes()[start:]) {
		b.seen = true
		close(b.listening)
	}
	return n, err
}

func (b *lineBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var listenLine = regexp.MustCompile(`(?m)^listening on (http://\S+)\n`)

// demo is one in-process run of the server, driven over loopback HTTP.
type demo struct {
	t      *testing.T
	base   string
	keys   map[string]string // "tenant/role" → printed key, in generated mode
	stdout *lineBuffer
	stderr *lineBuffer
	cancel context.CancelFunc
	done   chan int
	code   *int
	client *http.Client

	// clientID and clientSecret are the printed OAuth client's, in
	// generated mode.
	clientID, clientSecret string
	// username and password are the printed demo user's, when the config
	// lists no users.
	username, password string
}

// startDemo runs run() with -addr 127.0.0.1:0 and args, waits for its
// "listening on" line and reads the keys, client and user it printed. The server is stopped
// at the end of the test, which must then see exit code 0.
func startDemo(t *testing.T, args ...string) *demo {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d := &demo{
		t:      t,
		stdout: newLineBuffer(),
		stderr: newLineBuffer(),
		cancel: cancel,
		done:   make(chan int, 1),
		keys:   make(map[string]string),
		client: &http.Client{Timeout: startTimeout},
	}
	go func() {
		d.done <- run(ctx, append([]string{"-addr", "127.0.0.1:0"}, args...), d.stdout, d.stderr)
	}()
	select {
	case <-d.stdout.listening:
	case code := <-d.done:
		cancel()
		t.Fatalf("run exited with %d before listening; stderr:\n%s", code, d.stderr)
	case <-time.After(startTimeout):
		cancel()
		t.Fatalf("no listening line within %v; stdout:\n%s\nstderr:\n%s", startTimeout, d.stdout, d.stderr)
	}
	out := d.stdout.String()
	d.base = listenLine.FindStringSubmatch(out)[1]
	// The key table: "  ROLE  TENANT  SCOPE  KEY" then one row per key.
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 4 && strings.HasPrefix(f[3], "sk_live_"):
			d.keys[f[1]+"/"+f[0]] = f[3]
		case len(f) == 2 && f[0] == "client_id":
			d.clientID = f[1]
		case len(f) == 2 && f[0] == "client_secret":
			d.clientSecret = f[1]
		case len(f) == 2 && f[0] == "username":
			d.username = f[1]
		case len(f) == 2 && f[0] == "password":
			d.password = f[1]
		}
	}
	t.Cleanup(func() {
		if d.code == nil {
			assert.Equal(t, 0, d.stop(), "exit code after cancel; stderr:\n%s", d.stderr)
		}
	})
	return d
}

// stop cancels the run's context, as SIGINT would, and returns the exit
// code.
func (d *demo) stop() int {
	d.t.Helper()
	// A connection the client's transport dialed but never used counts as
	// active for 5 s in http.Server.Shutdown: close them first.
	d.client.CloseIdleConnections()
	d.cancel()
	select {
	case code := <-d.done:
		d.code = &code
		return code
	case <-time.After(startTimeout):
		d.t.Fatalf("run did not return within %v of cancel", startTimeout)
		return -1
	}
}

// key returns the printed key of role in tenant.
func (d *demo) key(tenant, role string) string {
	d.t.Helper()
	k := d.keys[tenant+"/"+role]
	require.NotEmpty(d.t, k, "no printed key for %s/%s in:\n%s", tenant, role, d.stdout)
	return k
}

// response is a response read whole.
type response struct {
	status int
	header http.Header
	body   []byte
}

// json decodes the body as a JSON object.
func (r *response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.body, &m), "body: %s", r.body)
	return m
}

// do sends a request with key as Bearer token (none when ""), and body as
// JSON (a string is sent as is; nil sends nothing).
func (d *demo) do(method, path, key string, body any) *response {
	d.t.Helper()
	return d.doWith(method, path, key, body, nil)
}

// doWith is do with extra request header fields.
func (d *demo) doWith(method, path, key string, body any, header http.Header) *response {
	d.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		require.NoError(d.t, err)
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, d.base+path, rd)
	require.NoError(d.t, err)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for name, vs := range header {
		req.Header[name] = vs
	}
	res, err := d.client.Do(req)
	require.NoError(d.t, err)
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	require.NoError(d.t, err)
	return &response{status: res.StatusCode, header: res.Header, body: data}
}

// requireProblem asserts that res is a problem response with status and
// code, whose request_id is the X-Request-Id header and whose instance is
// the path, and returns its body.
func requireProblem(t *testing.T, res *response, status int, code string) map[string]any {
	t.Helper()
	require.Equal(t, status, res.status, "body: %s", res.body)
	assert.Equal(t, "application/problem+json", res.header.Get("Content-Type"))
	p := res.json(t)
	assert.Equal(t, code, p["code"], "body: %s", res.body)
	assert.EqualValues(t, status, p["status"])
	assert.NotEmpty(t, p["request_id"])
	assert.Equal(t, res.header.Get("X-Request-Id"), p["request_id"])
	return p
}

// writeConfig writes a config file into a test directory and returns its
// path.
func writeConfig(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "demo.json")
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}
