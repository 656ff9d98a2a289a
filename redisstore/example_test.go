package redisstore_test

import (
	"net/http"

	"github.com/apiauth/apiauth"
	"github.com/apiauth/apiauth/redisstore"
	"github.com/redis/go-redis/v9"
)

// Every instance of a service points its rate limits at one Redis. While
// Redis is down, each instance limits on its own with an in-memory store.
func ExampleNew() {
	client := redis.NewClient(&redis.Options{
		Addr: "127.0.0.1:6379",
		// Let the store's time budget cut socket reads short.
		ContextTimeoutEnabled: true,
	})
	defer client.Close()
	store := redisstore.New(client, redisstore.WithFallback(apiauth.NewMemoryStore()))

	keys := apiauth.NewMemoryKeys()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/orders", func(w http.ResponseWriter, r *http.Request) {})
	handler := apiauth.Authenticate(keys)(apiauth.RateLimit(store, nil)(mux))
	_ = http.ListenAndServe(":8080", handler)
}
