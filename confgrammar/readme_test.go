package confgrammar

import (
	"os"
	"strings"
	"testing"
)

// TestReadmeConfigParses keeps the README's option tour a valid config.
func TestReadmeConfigParses(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "## The config, option by option\n\n```\n")
	block, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("README.md has no config tour block")
	}
	cfg, err := Parse("README.md", []byte(block))
	if err != nil {
		t.Fatalf("the README's config does not parse:\n%v", err)
	}
	if len(cfg.Jobs) != 1 || len(cfg.Reports) != 1 || len(cfg.Listens) != 1 {
		t.Fatalf("unexpected config: %d jobs, %d reports, %d listens", len(cfg.Jobs), len(cfg.Reports), len(cfg.Listens))
	}
}
