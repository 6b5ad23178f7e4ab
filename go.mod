module pmtr

go 1.26.0

require (
	github.com/benbjohnson/clock v1.3.5
	go.yaml.in/yaml/v3 v3.0.6
	golang.org/x/sys v0.50.0
	pgregory.net/rapid v1.3.0
)
