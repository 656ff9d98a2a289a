package apiauth

import "net/http"

// RequireTenant returns a layer that lets a request through only when the
// tenant its route names, as returned by tenantOf, is the principal's
// tenant. A mismatch is 403 tenant_forbidden, answered before the handler
// runs and so the same whether or not the resource exists. An empty route
// tenant never matches. The refusal's WWW-Authenticate challenge carries
// error="insufficient_scope", the one RFC 6750 §3.1 code for a 403. A
// request with no principal gets 401 missing_token.
//
// RequireTenant must run after routing, where the route's parameters are
// known: on the route itself (chi's r.With, a handler registered on a
// ServeMux pattern), not around the whole router, where the tenant is
// always empty and every request is refused. tenantOf reads the route:
// PathTenant("tenant") for http.ServeMux and chi patterns, or for example func(r *http.Request) string { return
// mux.Vars(r)["tenant"] } for gorilla/mux.
func RequireTenant(tenantOf func(*http.Request) string) func(http.Handler) http.Handler {
	deny := &refusal{layer: "tenant", code: CodeTenantForbidden}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			st := stateFrom(r.Context())
			p := st.principalOrNil()
			if p == nil {
				rejectUnauthenticated(w, r, "tenant")
				return
			}
			if t := tenantOf(r); t == "" || t != p.Tenant {
				deny.reject(w, r, st)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// PathTenant returns a tenantOf function for RequireTenant that reads the
// path wildcard name with r.PathValue, as set by http.ServeMux patterns
// (Go 1.22) and by chi.
func PathTenant(name string) func(*http.Request) string {
	return func(r *http.Request) string { return r.PathValue(name) }
}
