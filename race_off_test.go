//go:build !race

package apiauth_test

const raceEnabled = false
