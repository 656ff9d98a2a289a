package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/url"
)

// printWalkthrough prints, when the demo's clients are in play, the
// authorization-code flow to follow by hand: a PKCE code_verifier for the
// shell, the authorization URL to open in a browser (sign in, approve;
// the callback page shows the code), and the curl lines that redeem the
// code, call the API and refresh, for demo-app and, when its secret was
// generated now, svc-acme.
func printWalkthrough(w io.Writer, base string, g *generated) {
	if g.app == nil {
		return
	}
	if u, err := url.Parse(base); err != nil || !isLoopbackHost(u.Hostname()) {
		fmt.Fprintln(w, "The browser walk-through of the authorization-code flow needs the demo on a loopback address:")
		fmt.Fprintln(w, "the generated clients redirect to "+callbackPath+" on 127.0.0.1 or [::1].")
		fmt.Fprintln(w)
		return
	}
	verifier, challenge := pkcePair()
	state := randomBase62(16)
	redirect := base + callbackPath
	token := base + "/oauth/token"
	who := "a user of the config"
	if g.user != nil {
		who = g.user.user.Username + " (the password above)"
	}
	const (
		access  = `ACCESS_TOKEN=$(echo "$TOKENS" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')`
		refresh = `REFRESH_TOKEN=$(echo "$TOKENS" | sed -n 's/.*"refresh_token":"\([^"]*\)".*/\1/p')`
	)
	redeem := "-d grant_type=authorization_code -d code=$CODE -d redirect_uri=" + redirect + " -d code_verifier=$VERIFIER " + token
	refreshWith := "-d grant_type=refresh_token -d client_id=" + g.app.ID + " -d refresh_token="
	lines := []string{
		"# 1. In your shell, the PKCE code_verifier (the URL below carries its S256 challenge):",
		"VERIFIER=" + verifier,
		"# 2. Open this URL in a browser, sign in as " + who + " and Allow;",
		"#    the demo's callback page then shows the code, and the curl line that redeems it:",
		authorizeURL(base, g.app.ID, redirect, state, challenge),
		"# 3. Paste the CODE=... line the page shows, then redeem the code (once, within 5 minutes):",
		`TOKENS=$(curl -s -d client_id=` + g.app.ID + " " + redeem + `); echo "$TOKENS"`,
		access + "; " + refresh,
		"# 4. Call the API as the user:",
		`curl -H "Authorization: Bearer $ACCESS_TOKEN" ` + base + "/v1/me",
		"# 5. Refresh: a new access token and a new refresh token; the old one is spent.",
		"OLD=$REFRESH_TOKEN",
		`TOKENS=$(curl -s ` + refreshWith + `$REFRESH_TOKEN ` + token + `); echo "$TOKENS"`,
		access + "; " + refresh,
		"# 6. The spent refresh token again: 400 invalid_grant, and the grant ends (RFC 9700 §4.14.2):",
		"curl " + refreshWith + "$OLD " + token,
		"# 7. With a new grant (steps 2 and 3 again), the app signs the user out by revoking its",
		"#    refresh token (RFC 7009): the grant ends, its access token with it (then 401 at step 4):",
		"curl -d client_id=" + g.app.ID + " -d token=$REFRESH_TOKEN " + base + "/oauth/revoke",
	}
	if c := g.client; c != nil {
		lines = append(lines,
			"# The confidential client "+c.spec.ID+" does the same with its secret: open",
			authorizeURL(base, c.spec.ID, redirect, state, challenge),
			"#    and redeem its code with",
			`TOKENS=$(curl -s -u `+c.spec.ID+":"+c.secret+" "+redeem+`); echo "$TOKENS"`,
		)
	}
	fmt.Fprintln(w, "Sign in and approve an app (the authorization code with PKCE), in a browser and with curl:")
	fmt.Fprintln(w)
	for _, l := range lines {
		fmt.Fprintln(w, "  "+l)
	}
	fmt.Fprintln(w)
}

// authorizeURL is the authorization request of client for its read and
// write scopes, back to redirect, with state and a PKCE S256 challenge.
func authorizeURL(base, client, redirect, state, challenge string) string {
	q := url.Values{
		"response_type": {"code"}, "client_id": {client}, "redirect_uri": {redirect}, "scope": {"read write"},
		"state": {state}, "code_challenge": {challenge}, "code_challenge_method": {"S256"},
	}
	return base + authorizePath + "?" + q.Encode()
}

// pkcePair returns a PKCE code_verifier, 43 characters from 32 random
// bytes, and its S256 code_challenge (RFC 7636 §4.1, §4.2).
func pkcePair() (verifier, challenge string) {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24).
	verifier = base64.RawURLEncoding.EncodeToString(b[:])
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}
