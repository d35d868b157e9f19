// compose-check loads compose files the way `docker compose config` does, with the Compose
// specification's reference loader (compose-go): YAML parsing, validation against the
// compose-spec JSON schema (unknown keys are errors), interpolation, normalization and the
// consistency checks (services, networks, volumes, secrets and configs that are referenced
// must be defined; dependency cycles). Any loader error or logged warning (an unset variable,
// a deprecated key) is a finding: exit 1. Clean: exit 0, printing the services. Usage:
//
//	compose-check [-env NAME=VALUE ...] compose.yaml [override.yaml ...]
//
// The process environment is not used: only -env values (so the result is the same
// everywhere).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/sirupsen/logrus"
)

type envList []string

func (e *envList) String() string { return strings.Join(*e, ",") }

func (e *envList) Set(value string) error {
	if !strings.Contains(value, "=") {
		return fmt.Errorf("want NAME=VALUE, got %q", value)
	}
	*e = append(*e, value)
	return nil
}

type warningCounter struct{ messages []string }

func (w *warningCounter) Levels() []logrus.Level {
	return []logrus.Level{logrus.PanicLevel, logrus.FatalLevel, logrus.ErrorLevel, logrus.WarnLevel}
}

func (w *warningCounter) Fire(entry *logrus.Entry) error {
	w.messages = append(w.messages, entry.Message)
	return nil
}

func main() {
	var env envList
	flag.Var(&env, "env", "NAME=VALUE for interpolation (repeatable)")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: compose-check [-env NAME=VALUE ...] compose.yaml [override.yaml ...]")
		os.Exit(2)
	}
	warnings := &warningCounter{}
	logrus.AddHook(warnings)
	logrus.SetOutput(os.Stderr)

	files := flag.Args()
	options, err := cli.NewProjectOptions(
		files,
		cli.WithWorkingDirectory(filepath.Dir(files[0])),
		cli.WithEnv(env),
		cli.WithName("compose-check"),
		cli.WithInterpolation(true),
		cli.WithNormalization(true),
		cli.WithConsistency(true),
		cli.WithResolvedPaths(true),
	)
	if err != nil {
		fmt.Printf("error: %v\n", err)
		os.Exit(1)
	}
	project, err := options.LoadProject(context.Background())
	if err != nil {
		fmt.Printf("%s: error: %v\n", strings.Join(files, ", "), err)
		os.Exit(1)
	}
	for _, message := range warnings.messages {
		fmt.Printf("%s: warning: %s\n", strings.Join(files, ", "), message)
	}
	if len(warnings.messages) > 0 {
		fmt.Printf("%d finding(s)\n", len(warnings.messages))
		os.Exit(1)
	}
	names := project.ServiceNames()
	sort.Strings(names)
	fmt.Printf("valid (compose-spec schema and consistency): %d services: %s\n", len(names), strings.Join(names, " "))
}
