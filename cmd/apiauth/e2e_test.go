package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMain removes the demo binary the end-to-end tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	if demoBuild.dir != "" {
		os.RemoveAll(demoBuild.dir)
	}
	os.Exit(code)
}

// demoBuild is apiauth-demo, built once for every end-to-end test.
var demoBuild struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

// demoBinary builds apiauth-demo with the go tool, once, and returns its
// path. It skips the test when the go tool is not on PATH.
func demoBinary(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go tool is not on PATH, so apiauth-demo cannot be built for the end-to-end test")
	}
	demoBuild.once.Do(func() {
		dir, err := os.MkdirTemp("", "apiauth-cli-e2e-")
		if err != nil {
			demoBuild.err = err
			return
		}
		demoBuild.dir = dir
		bin := filepath.Join(dir, "apiauth-demo")
		if runtime.GOOS == "windows" {
			bin += ".exe"
		}
		start := time.Now()
		out, err := exec.Command(goTool, "build", "-o", bin, "github.com/apiauth/apiauth/cmd/apiauth-demo").CombinedOutput()
		if err != nil {
			demoBuild.err = errors.New("go build ./cmd/apiauth-demo: " + err.Error() + "\n" + string(out))
			return
		}
		t.Logf("built apiauth-demo in %v", time.Since(start).Round(time.Millisecond))
		demoBuild.bin = bin
	})
	require.NoError(t, demoBuild.err)
	return demoBuild.bin
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// demoProcess is a running apiauth-demo.
type demoProcess struct {
	t              *testing.T
	cmd            *exec.Cmd
	base           string
	stdout, stderr *syncBuffer
	// read is closed when stdout has been read to its end.
	read chan struct{}
}

// demoListening is the line after which the demo serves.
var demoListening = regexp.MustCompile(`^listening on (http://\S+)$`)

// demoStartTimeout bounds how long the demo may take to listen: it
// migrates the database first, on a machine the tests share.
const demoStartTimeout = 20 * time.Second

// startDemoProcess starts the demo binary on db, on a free loopback port,
// and waits for its "listening on" line.
func startDemoProcess(t *testing.T, bin, db string) *demoProcess {
	t.Helper()
	d := &demoProcess{t: t, stdout: &syncBuffer{}, stderr: &syncBuffer{}, read: make(chan struct{})}
	d.cmd = exec.Command(bin, "-db", db, "-addr", "127.0.0.1:0")
	d.cmd.Stderr = d.stderr
	out, err := d.cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, d.cmd.Start())
	t.Cleanup(func() {
		if d.cmd.ProcessState == nil {
			_ = d.cmd.Process.Kill()
			<-d.read
			_ = d.cmd.Wait()
		}
	})
	listening := make(chan string, 1)
	go func() {
		defer close(d.read)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			d.stdout.Write([]byte(line + "\n"))
			if m := demoListening.FindStringSubmatch(line); m != nil {
				listening <- m[1]
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case d.base = <-listening:
	case <-d.read:
		_ = d.cmd.Wait()
		t.Fatalf("apiauth-demo exited before listening (%v)\nstdout:\n%s\nstderr:\n%s", d.cmd.ProcessState, d.stdout, d.stderr)
	case <-time.After(demoStartTimeout):
		t.Fatalf("apiauth-demo did not listen within %v\nstdout:\n%s\nstderr:\n%s", demoStartTimeout, d.stdout, d.stderr)
	}
	return d
}

// get sends GET path with the bearer key and returns the status and body.
func (d *demoProcess) get(path, key string) (int, map[string]any) {
	d.t.Helper()
	req, err := http.NewRequestWithContext(d.t.Context(), http.MethodGet, d.base+path, nil)
	require.NoError(d.t, err)
	req.Header.Set("Authorization", "Bearer "+key)
	client := &http.Client{Timeout: 10 * time.Second}
	res, err := client.Do(req)
	require.NoError(d.t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(d.t, err)
	var m map[string]any
	require.NoError(d.t, json.Unmarshal(body, &m), "body: %s", body)
	return res.StatusCode, m
}

// stop interrupts the demo, as Ctrl-C, and returns its exit code.
func (d *demoProcess) stop() int {
	d.t.Helper()
	require.NoError(d.t, d.cmd.Process.Signal(os.Interrupt))
	select {
	case <-d.read:
	case <-time.After(15 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.read
	}
	_ = d.cmd.Wait()
	return d.cmd.ProcessState.ExitCode()
}

// TestFirstAdminKeySQLite is the proof: in an empty SQLite
// database, the CLI creates an admin key, and the demo server, started on
// that database, accepts it, generates no demo keys of its own (acme
// already holds one), and refuses the key once the CLI revokes it.
func TestFirstAdminKeySQLite(t *testing.T) {
	db, path := sqliteDB(t)
	_, err := os.Stat(path)
	require.ErrorIs(t, err, os.ErrNotExist, "the database is not empty: it exists")
	testFirstAdminKey(t, db, true)
}

// TestFirstAdminKeyPostgres is TestFirstAdminKeySQLite on PostgreSQL, on a
// database that other tests and runs may share: acme may hold other keys.
func TestFirstAdminKeyPostgres(t *testing.T) {
	testFirstAdminKey(t, postgresURL(t), false)
}

// testFirstAdminKey runs the end-to-end proof on db; empty says that the
// database held no key before, so that the demo's listing must hold only
// the CLI's.
func testFirstAdminKey(t *testing.T, db string, empty bool) {
	start := time.Now()
	bin := demoBinary(t)
	s := newSession(t, db, "acme")
	key, id := s.create("-subject", "ops@acme", "-scopes", "admin", "-name", "bootstrap")

	d := startDemoProcess(t, bin, db)
	status, me := d.get("/v1/me", key)
	require.Equal(t, http.StatusOK, status, "GET /v1/me: %v\nstderr:\n%s", me, d.stderr)
	assert.Equal(t, "acme", me["tenant"])
	assert.Equal(t, "ops@acme", me["subject"])
	assert.Equal(t, id, me["key_id"])
	assert.Equal(t, []any{"admin"}, me["scopes"])

	status, listing := d.get("/v1/admin/keys", key)
	require.Equal(t, http.StatusOK, status, "GET /v1/admin/keys: %v", listing)
	var ids []string
	for _, k := range listing["keys"].([]any) {
		ids = append(ids, k.(map[string]any)["id"].(string))
	}
	assert.Contains(t, ids, id)
	if empty {
		assert.Equal(t, []string{id}, ids, "keys other than the CLI's in acme")
	}
	assert.NotContains(t, d.stdout.String(), "Generated API keys")
	assert.Contains(t, d.stderr.String(), "the database already holds the demo's keys: none generated")

	// Revoked through the CLI, the key is refused by the running server:
	// on PostgreSQL at once (notified), on SQLite within its poll.
	r := s.run("keys", "revoke", "-id", id)
	require.Equal(t, exitOK, r.code, "stderr: %s", r.stderr)
	revoked := time.Now()
	for {
		status, problem := d.get("/v1/me", key)
		if status == http.StatusUnauthorized {
			assert.Equal(t, "token_revoked", problem["code"])
			break
		}
		require.Equal(t, http.StatusOK, status, "%v", problem)
		require.Less(t, time.Since(revoked), 6*time.Second, "the server still accepts the revoked key")
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("the server refused the revoked key after %v", time.Since(revoked).Round(time.Millisecond))

	require.Equal(t, 0, d.stop(), "stderr:\n%s", d.stderr)
	assert.NotContains(t, d.stderr.String(), key, "the demo logged the key")

	// The demo recorded the key's use at shutdown; the CLI lists it.
	v := s.list()[id]
	require.NotNil(t, v.LastUsedAt, "no last use recorded")
	assert.WithinDuration(t, time.Now(), *v.LastUsedAt, 2*time.Minute)
	assert.Equal(t, "revoked", v.Status)
	t.Logf("end to end in %v (building the demo, if this test did, included)", time.Since(start).Round(time.Millisecond))
}
