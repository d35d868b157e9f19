// dockerfile-check lints Dockerfiles with BuildKit's own Dockerfile frontend: the parser, the
// instruction parser and every linter rule that `docker build --check` runs (experimental
// rules included), offline. It exits 1 on any warning or parse error, 0 when every file is
// clean, 2 on bad usage.
//
// Base images are not pulled: an offline resolver answers every FROM with a minimal Linux
// image config (PATH set, one layer), so rules that need the base image's metadata still run
// (the platform check passes, UndefinedVar sees PATH) without a registry.
//
// Usage: dockerfile-check [-build-arg NAME=VALUE ...] Dockerfile...
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"regexp"
	"runtime"
	"sort"
	"strings"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/frontend/dockerfile/dockerfile2llb"
	"github.com/moby/buildkit/frontend/dockerui"
	digest "github.com/opencontainers/go-digest"
)

type offlineResolver struct{}

func (offlineResolver) ResolveImageConfig(_ context.Context, ref string, _ sourceresolver.Opt) (string, digest.Digest, []byte, error) {
	config := map[string]any{
		"architecture": runtime.GOARCH,
		"os":           "linux",
		"config": map[string]any{
			"Env": []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		},
		"rootfs": map[string]any{
			"type":     "layers",
			"diff_ids": []string{digest.FromString(ref).String()},
		},
	}
	data, err := json.Marshal(config)
	return ref, "", data, err
}

type buildArgs map[string]string

func (b buildArgs) String() string { return fmt.Sprint(map[string]string(b)) }

func (b buildArgs) Set(value string) error {
	name, val, ok := strings.Cut(value, "=")
	if !ok || name == "" {
		return fmt.Errorf("want NAME=VALUE, got %q", value)
	}
	b[name] = val
	return nil
}

var directive = regexp.MustCompile(`^#\s*([a-zA-Z]+)\s*=`)

// everyRule returns the Dockerfile with its `# check=` parser directive (which may skip rules)
// replaced by one that runs every rule, experimental ones included, and how many lines were
// added before the original first line (0 or 1).
func everyRule(data []byte) ([]byte, int32) {
	const all = "# check=experimental=all"
	lines := strings.Split(string(data), "\n")
	for i, line := range lines {
		match := directive.FindStringSubmatch(line)
		if match == nil {
			break
		}
		if strings.EqualFold(match[1], "check") {
			lines[i] = all
			return []byte(strings.Join(lines, "\n")), 0
		}
	}
	return []byte(all + "\n" + string(data)), 1
}

func lint(path string, args buildArgs) (int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	checked, shift := everyRule(data)
	sourceMap := llb.NewSourceMap(nil, path, "Dockerfile", checked)
	sourceMap.Definition = &llb.Definition{}
	opt := dockerfile2llb.ConvertOpt{
		Config:       dockerui.Config{BuildArgs: args},
		SourceMap:    sourceMap,
		MetaResolver: offlineResolver{},
	}
	results, err := dockerfile2llb.DockerfileLint(context.Background(), checked, opt)
	if err != nil {
		return 0, err
	}
	warnings := results.Warnings
	sort.SliceStable(warnings, func(i, j int) bool {
		li, lj := int32(0), int32(0)
		if loc := warnings[i].Location; loc != nil && len(loc.Ranges) > 0 {
			li = loc.Ranges[0].Start.Line
		}
		if loc := warnings[j].Location; loc != nil && len(loc.Ranges) > 0 {
			lj = loc.Ranges[0].Start.Line
		}
		return li < lj
	})
	for _, w := range warnings {
		line := int32(0)
		if w.Location != nil && len(w.Location.Ranges) > 0 {
			line = w.Location.Ranges[0].Start.Line - shift
		}
		fmt.Printf("%s:%d: %s: %s (%s)\n", path, line, w.RuleName, w.Detail, w.URL)
	}
	if results.Error != nil {
		fmt.Printf("%s: error: %s\n", path, results.Error.Message)
		return len(warnings) + 1, nil
	}
	return len(warnings), nil
}

func main() {
	args := buildArgs{}
	flag.Var(args, "build-arg", "NAME=VALUE passed to the Dockerfile (repeatable)")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: dockerfile-check [-build-arg NAME=VALUE ...] Dockerfile...")
		os.Exit(2)
	}
	findings := 0
	for _, path := range flag.Args() {
		count, err := lint(path, args)
		if err != nil {
			fmt.Printf("%s: error: %v\n", path, err)
			count = 1
		}
		findings += count
	}
	if findings > 0 {
		fmt.Printf("%d finding(s)\n", findings)
		os.Exit(1)
	}
	fmt.Printf("%d Dockerfile(s) clean (BuildKit lint rules)\n", flag.NArg())
}
