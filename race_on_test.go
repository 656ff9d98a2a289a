//go:build race

package apiauth_test

// raceEnabled: the race detector makes sync.Pool drop items at random and
// adds allocations of its own, so allocation counts are not checked.
const raceEnabled = true
