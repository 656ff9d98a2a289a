package main

import (
	"cmp"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/apiauth/apiauth"
)

// Rotation grace periods of POST /v1/admin/keys/{id}/rotate.
const (
	defaultGrace = 24 * time.Hour
	maxGrace     = 30 * 24 * time.Hour
)

// keyView is what the admin routes show of a key: its ID and metadata,
// never the key or its digest.
type keyView struct {
	ID          string          `json:"id"`
	Name        string          `json:"name"`
	Fingerprint string          `json:"fingerprint"`
	Subject     string          `json:"subject"`
	Tenant      string          `json:"tenant"`
	Scopes      []apiauth.Scope `json:"scopes"`
	Tier        string          `json:"tier"`
	Status      string          `json:"status"`
	CreatedAt   time.Time       `json:"created_at"`
	ExpiresAt   *time.Time      `json:"expires_at"`
	RevokedAt   *time.Time      `json:"revoked_at"`
	ReplacedBy  string          `json:"replaced_by,omitempty"`
	// LastUsedAt is when the key was last used, to the minute, when the
	// store records it (with -db): null for a key never used. It is left
	// out when the store does not record it (in memory).
	LastUsedAt *lastUsedTime `json:"last_used_at,omitempty"`
}

// lastUsedTime is a last-used time that shows as null when zero.
type lastUsedTime struct{ t time.Time }

// MarshalJSON implements json.Marshaler.
func (l lastUsedTime) MarshalJSON() ([]byte, error) {
	if l.t.IsZero() {
		return []byte("null"), nil
	}
	return l.t.UTC().MarshalJSON()
}

// viewKey builds the view of rec as of now.
func (s *server) viewKey(rec *apiauth.KeyRecord, now time.Time) keyView {
	v := keyView{
		ID:          rec.ID(),
		Name:        rec.Name,
		Fingerprint: rec.Fingerprint(),
		Subject:     rec.Subject,
		Tenant:      rec.Tenant,
		Scopes:      nonNil(rec.Scopes),
		Tier:        tierName(s.tiers, &rec.Principal),
		Status:      "active",
		CreatedAt:   rec.CreatedAt.UTC(),
		ExpiresAt:   timePtr(rec.ExpiresAt),
		RevokedAt:   timePtr(rec.RevokedAt),
		ReplacedBy:  rec.ReplacedBy,
	}
	if s.lastUsed {
		v.LastUsedAt = &lastUsedTime{rec.LastUsedAt}
	}
	switch {
	case !rec.RevokedAt.IsZero() && !now.Before(rec.RevokedAt):
		v.Status = "revoked"
	case !rec.ExpiresAt.IsZero() && !now.Before(rec.ExpiresAt):
		v.Status = "expired"
	}
	return v
}

// timePtr returns nil for the zero time, so that JSON shows null.
func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// newKeyResponse is the answer to creating or rotating a key: the only
// time the plaintext key is shown.
type newKeyResponse struct {
	Key string `json:"key"`
	keyView
	Replaces string `json:"replaces,omitempty"`
}

// listKeys answers GET /v1/admin/keys: the caller's tenant's keys.
func (s *server) listKeys(w http.ResponseWriter, r *http.Request) {
	recs, err := s.keys.List(r.Context(), principal(r).Tenant)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	now := time.Now()
	views := make([]keyView, 0, len(recs))
	for _, rec := range recs {
		views = append(views, s.viewKey(rec, now))
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": views})
}

// createKeyRequest is the body of POST /v1/admin/keys.
type createKeyRequest struct {
	Name    string   `json:"name"`
	Subject string   `json:"subject"`
	Scopes  []string `json:"scopes"`
	Tier    string   `json:"tier"`
	// ExpiresAt is an RFC 3339 time in the future; "" for no expiry.
	ExpiresAt string `json:"expires_at"`
}

// operatorScope lets an admin give a new key another tier than its own.
const operatorScope apiauth.Scope = "operator"

// createKey answers POST /v1/admin/keys: a new key for the caller's
// tenant. The new key never gets more than its creator has: a scope the
// creator lacks, a subject that is neither the creator's nor one of its
// sub-identities ("admin@acme/ci"), or a tier other than the creator's
// without the operator scope is 403 insufficient_scope, like any request
// beyond the caller's scopes. The subject and tier default to the
// creator's.
func (s *server) createKey(w http.ResponseWriter, r *http.Request) {
	var req createKeyRequest
	if decodeBody(w, r, &req, false) != nil {
		return
	}
	p := principal(r)
	spec := apiauth.KeySpec{Name: req.Name, Subject: cmp.Or(req.Subject, p.Subject), Tenant: p.Tenant, Tier: cmp.Or(req.Tier, p.Tier)}
	if !s.mayCreate(w, r, p, spec) {
		return
	}
	if err := checkName(req.Name, 200, false); err != nil {
		badRequest(w, r, `"name": `+err.Error()+".")
		return
	}
	if err := checkName(spec.Subject, 200, false); err != nil {
		badRequest(w, r, `"subject": `+err.Error()+".")
		return
	}
	if len(req.Scopes) == 0 {
		badRequest(w, r, `"scopes" must name at least one scope.`)
		return
	}
	for _, sc := range req.Scopes {
		scope := apiauth.Scope(sc)
		if !scope.Valid() {
			badRequest(w, r, `"scopes" holds an invalid scope.`)
			return
		}
		if !p.HasScope(scope) {
			apiauth.WriteError(w, r, http.StatusForbidden, apiauth.CodeInsufficientScope,
				"A new key cannot get the scope "+sc+", which your credentials do not grant.")
			return
		}
		spec.Scopes = append(spec.Scopes, scope)
	}
	if _, known := s.tiers[req.Tier]; req.Tier != "" && !known {
		badRequest(w, r, `"tier" must be one of: `+strings.Join(tierNames(s.tiers), ", ")+".")
		return
	}
	if req.ExpiresAt != "" {
		t, err := time.Parse(time.RFC3339, req.ExpiresAt)
		if err != nil || !t.After(time.Now()) {
			badRequest(w, r, `"expires_at" must be an RFC 3339 time in the future, such as 2030-01-01T00:00:00Z.`)
			return
		}
		spec.ExpiresAt = t
	}
	key, rec, err := s.keys.Create(r.Context(), spec)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	s.log.InfoContext(r.Context(), "key created", "key_id", rec.ID(), "fingerprint", rec.Fingerprint(),
		"tenant", rec.Tenant, "by", p.KeyID)
	writeJSON(w, http.StatusCreated, newKeyResponse{Key: key, keyView: s.viewKey(rec, time.Now())})
}

// mayCreate refuses, with 403 insufficient_scope, a new key whose subject
// or tier p may not give it.
func (s *server) mayCreate(w http.ResponseWriter, r *http.Request, p *apiauth.Principal, spec apiauth.KeySpec) bool {
	if spec.Subject != p.Subject && !strings.HasPrefix(spec.Subject, p.Subject+"/") {
		apiauth.WriteError(w, r, http.StatusForbidden, apiauth.CodeInsufficientScope,
			"A new key's subject is yours or one of its sub-identities, such as "+p.Subject+"/ci.")
		return false
	}
	if tierName(s.tiers, &apiauth.Principal{Tier: spec.Tier}) != tierName(s.tiers, p) && !p.HasScope(operatorScope) {
		apiauth.WriteError(w, r, http.StatusForbidden, apiauth.CodeInsufficientScope,
			"A new key gets your own tier; another needs the scope "+string(operatorScope)+".")
		return false
	}
	return true
}

// rotateRequest is the optional body of POST /v1/admin/keys/{id}/rotate.
type rotateRequest struct {
	// Grace is how long the old key keeps working, a Go duration; 24h when
	// empty.
	Grace string `json:"grace"`
}

// rotateKey answers POST /v1/admin/keys/{id}/rotate: a replacement key,
// while the old one keeps working for the grace period.
//
// Rotation and revocation of one key may run concurrently without a lock:
// the key store changes a record only through narrow updates (RevokeKey,
// ExpireKey) that never undo each other, and ExpireKey refuses a revoked
// key, so a rotation that a revocation overtakes fails (409) and leaves
// no working replacement. A key's tenant never changes, so tenantKey's
// check holds for the rest of the request.
func (s *server) rotateKey(w http.ResponseWriter, r *http.Request) {
	var req rotateRequest
	if decodeBody(w, r, &req, true) != nil {
		return
	}
	grace := defaultGrace
	if req.Grace != "" {
		d, err := time.ParseDuration(req.Grace)
		if err != nil || d < 0 || d > maxGrace {
			badRequest(w, r, `"grace" must be a duration from 0s to 720h, such as "24h".`)
			return
		}
		grace = d
	}
	old, ok := s.tenantKey(w, r)
	if !ok {
		return
	}
	key, rec, err := s.keys.Rotate(r.Context(), old.ID(), grace)
	switch {
	case errors.Is(err, apiauth.ErrTokenRevoked) || errors.Is(err, apiauth.ErrTokenExpired):
		apiauth.WriteError(w, r, http.StatusConflict, "conflict", "A revoked or expired key cannot be rotated.")
		return
	case err != nil:
		s.internalError(w, r, err)
		return
	}
	s.log.InfoContext(r.Context(), "key rotated", "key_id", old.ID(), "new_key_id", rec.ID(),
		"fingerprint", rec.Fingerprint(), "grace", grace.String(), "by", principal(r).KeyID)
	writeJSON(w, http.StatusCreated, newKeyResponse{Key: key, keyView: s.viewKey(rec, time.Now()), Replaces: old.ID()})
}

// revokeKey answers DELETE /v1/admin/keys/{id}: the key is refused from
// the next request on. Revoking a revoked key is a no-op.
func (s *server) revokeKey(w http.ResponseWriter, r *http.Request) {
	rec, ok := s.tenantKey(w, r)
	if !ok {
		return
	}
	if err := s.keys.Revoke(r.Context(), rec.ID()); err != nil {
		s.internalError(w, r, err)
		return
	}
	s.log.InfoContext(r.Context(), "key revoked", "key_id", rec.ID(), "by", principal(r).KeyID)
	w.WriteHeader(http.StatusNoContent)
}

// tenantKey returns the key named by the {id} path value if it belongs to
// the caller's tenant. Otherwise it answers 404, the same way whether the
// key does not exist or belongs to another tenant, so that key IDs of other
// tenants cannot be probed.
func (s *server) tenantKey(w http.ResponseWriter, r *http.Request) (*apiauth.KeyRecord, bool) {
	rec, err := s.keys.Store.GetKey(r.Context(), r.PathValue("id"))
	switch {
	case errors.Is(err, apiauth.ErrKeyNotFound) || err == nil && rec.Tenant != principal(r).Tenant:
		apiauth.WriteError(w, r, http.StatusNotFound, "not_found", "No key with this ID in your tenant.")
		return nil, false
	case err != nil:
		s.internalError(w, r, err)
		return nil, false
	}
	return rec, true
}
