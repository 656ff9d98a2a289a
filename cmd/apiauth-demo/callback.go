package main

import (
	"bytes"
	"context"
	"errors"
	"html/template"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/apiauth/apiauth/oauth"
)

// callbackPath is the demo's callback page: the redirect URI of the
// generated clients, standing in for an application's.
const callbackPath = "/demo/callback"

// callbackClient is a client that redirects to the callback page, whose
// token request the page shows.
type callbackClient struct {
	ID     string
	Public bool
}

// callbackClients returns those of the clients ids that have the callback
// page among their redirect URIs, public ones first.
func callbackClients(ctx context.Context, clients oauth.ClientStore, ids []string) ([]callbackClient, error) {
	var out []callbackClient
	for _, id := range ids {
		c, err := clients.GetClient(ctx, id)
		if errors.Is(err, oauth.ErrClientNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, ru := range c.RedirectURIs {
			if u, err := url.Parse(ru); err == nil && u.Path == callbackPath && u.RawQuery == "" && isLoopbackHost(u.Hostname()) {
				out = append(out, callbackClient{ID: c.ID, Public: c.Public})
				break
			}
		}
	}
	slices.SortStableFunc(out, func(a, b callbackClient) int {
		switch {
		case a.Public == b.Public:
			return 0
		case a.Public:
			return -1
		}
		return 1
	})
	return out, nil
}

// isLoopbackHost reports whether host is a loopback IP literal, as the
// loopback redirect URIs of RFC 8252 §7.3 name it.
func isLoopbackHost(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// callbackData is what the callback page shows.
type callbackData struct {
	Code, State, Iss string
	// CodeLine is the shell line that sets CODE, the code shell-quoted:
	// anyone can link here with a code of their choosing.
	CodeLine           string
	IssOK              bool
	Error, Description string
	// Requests are the token requests that redeem the code, one per
	// client that redirects here.
	Requests []tokenRequest
}

// tokenRequest is a curl line that redeems a code, for one client.
type tokenRequest struct {
	Client, Note, Curl string
}

// callbackPage serves GET /demo/callback, the page an application would
// be: it shows what the authorization endpoint sent back (code, state and
// iss, or error), escaped, and the curl line that exchanges the code for
// each client that redirects here. It is not the application: it keeps
// nothing and redeems nothing. issuer is the iss the endpoint sends (RFC
// 9207), which a client compares with the one it asked.
func callbackPage(issuer string, clients []callbackClient) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		d := callbackData{
			Code: q.Get("code"), State: q.Get("state"), Iss: q.Get("iss"),
			Error: q.Get("error"), Description: q.Get("error_description"),
		}
		d.IssOK = d.Iss == issuer
		if d.Code != "" && d.Error == "" {
			d.CodeLine = "CODE=" + shellQuote(d.Code)
			d.Requests = tokenRequests(r, d.Code, clients)
		}
		var b bytes.Buffer
		if err := callbackTemplate.Execute(&b, d); err != nil {
			http.Error(w, "The page could not be shown.", http.StatusInternalServerError)
			return
		}
		setPageHeaders(w.Header())
		_, _ = w.Write(b.Bytes())
	})
}

// tokenRequests returns, for each client, the curl line that redeems code
// at this server's token endpoint, with the redirect URI that brought the
// browser here and $VERIFIER for the PKCE code_verifier the user holds.
func tokenRequests(r *http.Request, code string, clients []callbackClient) []tokenRequest {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	origin := scheme + "://" + r.Host
	out := make([]tokenRequest, 0, len(clients))
	for _, c := range clients {
		auth, note := formArg("client_id", c.ID), "A public client: no secret; the verifier proves the code is yours"
		if !c.Public {
			auth, note = "-u "+shellQuote(c.ID+":")+"$CLIENT_SECRET", "A confidential client: CLIENT_SECRET is its secret"
		}
		curl := "curl " + auth + " -d grant_type=authorization_code " + formArg("code", code) + " " +
			formArg("redirect_uri", origin+callbackPath) + " -d code_verifier=$VERIFIER " + shellQuote(origin+"/oauth/token")
		out = append(out, tokenRequest{Client: c.ID, Note: note, Curl: curl})
	}
	return out
}

// formArg is a curl option that sends name=value in a form: -d when value
// needs no encoding, else --data-urlencode, shell-quoted as needed.
func formArg(name, value string) string {
	if strings.Trim(value, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~:/[]") == "" {
		return "-d " + name + "=" + value
	}
	return "--data-urlencode " + shellQuote(name+"="+value)
}

// shellQuote quotes s for a POSIX shell, when it needs quoting.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~:/@%+=,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// callbackTemplate is the callback page: plain HTML, no script, marked as
// a demo.
var callbackTemplate = template.Must(template.New("callback").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Authorization response (demo)</title>
<style>body{font-family:system-ui,sans-serif;max-width:48rem;margin:3rem auto;padding:0 1rem}.demo{background:#fff3cd;border:1px solid #e0c060;padding:.5rem 1rem}pre{background:#f4f4f4;padding:.5rem;white-space:pre-wrap;word-break:break-all}th{text-align:left;padding-right:1rem}</style>
</head><body>
<p class="demo"><strong>Demo callback — not for production.</strong> This page stands in for an application's redirect URI, so that the apiauth demo's walk-through needs no other server. A real application checks state and iss, then redeems the code at once, itself.</p>
<h1>Authorization response</h1>
{{if .Error}}<p>The authorization server answered with an error:</p>
<table><tr><th>error</th><td><code>{{.Error}}</code></td></tr>
<tr><th>error_description</th><td>{{.Description}}</td></tr>
<tr><th>state</th><td><code>{{.State}}</code></td></tr>
<tr><th>iss</th><td><code>{{.Iss}}</code></td></tr></table>
{{else if .Code}}<table><tr><th>code</th><td><code>{{.Code}}</code></td></tr>
<tr><th>state</th><td><code>{{.State}}</code> (check that it is the one your authorization request sent)</td></tr>
<tr><th>iss</th><td><code>{{.Iss}}</code> ({{if .IssOK}}this server's issuer{{else}}<strong>not</strong> this server's issuer: do not redeem the code here{{end}}, RFC 9207)</td></tr></table>
<p>For the walk-through the demo printed at start, paste into your shell:</p>
<pre>{{.CodeLine}}</pre>
<p>Or redeem the code at the token endpoint with one of these lines, once, within minutes. <code>$VERIFIER</code> is the PKCE code_verifier whose challenge the authorization request sent.</p>
{{range .Requests}}<h2>As {{.Client}}</h2>
<p>{{.Note}}.</p>
<pre>{{.Curl}}</pre>
{{else}}<p>No client of this demo redirects here: send the code, the redirect URI and the verifier to <code>/oauth/token</code> with your client's credentials.</p>
{{end}}{{else}}<p>This page receives the answer of an authorization request: a <code>code</code>, or an <code>error</code>. This request carries neither.</p>
{{end}}</body></html>
`))
