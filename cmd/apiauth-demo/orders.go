package main

import (
	"fmt"
	"net/http"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/apiauth/apiauth"
)

// Order is one order of the demo's orders API.
type Order struct {
	ID        string    `json:"id"`
	Tenant    string    `json:"tenant"`
	Item      string    `json:"item"`
	Quantity  int       `json:"quantity"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
}

// orderStore keeps orders in memory, per tenant. A tenant never sees
// another tenant's orders: every method takes the tenant.
type orderStore struct {
	mu       sync.Mutex
	seq      int
	byTenant map[string][]*Order
}

func newOrderStore() *orderStore {
	return &orderStore{byTenant: make(map[string][]*Order)}
}

// list returns the tenant's orders, oldest first; never nil.
func (s *orderStore) list(tenant string) []Order {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Order, 0, len(s.byTenant[tenant]))
	for _, o := range s.byTenant[tenant] {
		out = append(out, *o)
	}
	return out
}

// add stores a new order for tenant and returns it.
func (s *orderStore) add(tenant, createdBy, item string, quantity int) Order {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	o := &Order{
		ID:        fmt.Sprintf("ord_%06d", s.seq),
		Tenant:    tenant,
		Item:      item,
		Quantity:  quantity,
		CreatedBy: createdBy,
		CreatedAt: time.Now().UTC(),
	}
	s.byTenant[tenant] = append(s.byTenant[tenant], o)
	return *o
}

// remove deletes the tenant's order id and reports whether it was there.
func (s *orderStore) remove(tenant, id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	orders := s.byTenant[tenant]
	for i, o := range orders {
		if o.ID == id {
			s.byTenant[tenant] = append(orders[:i:i], orders[i+1:]...)
			return true
		}
	}
	return false
}

// principal returns the caller that Authenticate verified. Every handler
// runs behind Authenticate and a scope check, so there always is one.
func principal(r *http.Request) *apiauth.Principal {
	p, _ := apiauth.PrincipalFrom(r.Context())
	return p
}

// meResponse is the body of GET /v1/me.
type meResponse struct {
	Subject string          `json:"subject"`
	Tenant  string          `json:"tenant"`
	Scopes  []apiauth.Scope `json:"scopes"`
	Tier    string          `json:"tier"`
	KeyID   string          `json:"key_id"`
}

// me answers GET /v1/me: who the caller is, and the rate-limit tier in
// effect for it (free when its key names none).
func (s *server) me(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	writeJSON(w, http.StatusOK, meResponse{
		Subject: p.Subject,
		Tenant:  p.Tenant,
		Scopes:  nonNil(p.Scopes),
		Tier:    tierName(s.tiers, p),
		KeyID:   p.KeyID,
	})
}

// listOrders answers GET /v1/orders: the caller's tenant's orders.
func (s *server) listOrders(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"orders": s.orders.list(principal(r).Tenant)})
}

// listTenantOrders answers GET /v1/tenants/{tenant}/orders. RequireTenant
// has already refused any tenant but the caller's.
func (s *server) listTenantOrders(w http.ResponseWriter, r *http.Request) {
	tenant := r.PathValue("tenant")
	writeJSON(w, http.StatusOK, map[string]any{"tenant": tenant, "orders": s.orders.list(tenant)})
}

// orderRequest is the body of POST /v1/orders.
type orderRequest struct {
	Item     string `json:"item"`
	Quantity int    `json:"quantity"`
}

// createOrder answers POST /v1/orders with the created order.
func (s *server) createOrder(w http.ResponseWriter, r *http.Request) {
	var req orderRequest
	if decodeBody(w, r, &req, false) != nil {
		return
	}
	switch {
	case req.Item == "" || utf8.RuneCountInString(req.Item) > 200:
		badRequest(w, r, `"item" must be 1 to 200 characters.`)
		return
	case req.Quantity < 1 || req.Quantity > 1000:
		badRequest(w, r, `"quantity" must be an integer from 1 to 1000.`)
		return
	}
	p := principal(r)
	o := s.orders.add(p.Tenant, p.Subject, req.Item, req.Quantity)
	writeJSON(w, http.StatusCreated, o)
}

// deleteOrder answers DELETE /v1/orders/{id}: 204, or 404 when the
// caller's tenant has no such order (whether or not another tenant does).
func (s *server) deleteOrder(w http.ResponseWriter, r *http.Request) {
	if !s.orders.remove(principal(r).Tenant, r.PathValue("id")) {
		apiauth.WriteError(w, r, http.StatusNotFound, "not_found", "No order with this ID in your tenant.")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// nonNil returns s, or an empty slice for nil, so that JSON shows [].
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
