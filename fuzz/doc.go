// Package fuzz holds the go test -fuzz targets of pmtr. Run one with
//
//	go test ./fuzz -run='^$' -fuzz='^FuzzParse$' -fuzztime=60s
//
// (go test -fuzz takes one package and one target per run; make fuzz loops
// over all of them). Plain go test runs every seed as an ordinary test.
package fuzz
