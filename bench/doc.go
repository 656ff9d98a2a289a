// Package bench measures apiauth side by side with the peer libraries that
// users weigh it against: auth0/go-jwt-middleware, go-chi/jwtauth,
// go-chi/httprate, ulule/limiter, sethvargo/go-limiter, x/time/rate and
// go-redis/redis_rate. It is a module of its own so that none of them
// becomes a dependency of the library.
//
// Everything is in the benchmarks:
//
//	go test -run '^$' -bench . -benchmem
//
// and ./run.sh runs them several times and prints a markdown table of the
// medians with each row's ratio to its group's reference (RESULTS.md).
package bench
