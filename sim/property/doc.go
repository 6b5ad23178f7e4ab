// Package property is the rapid state-machine model of pmtr's core over the
// simulated backend. core's tests run it with rapid.Check and the fuzz
// package runs the same property under go test -fuzz (rapid.MakeFuzz).
package property
