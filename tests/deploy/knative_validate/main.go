// Command certamen-knative-validate runs Knative's own admission code on rendered
// manifests, without a cluster: what Knative's webhooks would default, refuse or warn
// about in each serving.knative.dev/v1 Service and in a KafkaSource's delivery and sink.
//
//	kubectl kustomize knative/ | certamen-knative-validate [-json] [-config FILE]...
//
// It reads multi-document YAML from the files named (or stdin), decodes each object it
// knows strictly (an unknown or misspelt field is an error, which Knative's webhooks
// themselves let through), then calls Knative's SetDefaults and Validate with the
// configuration the webhooks would have: Knative's defaults, or the ConfigMaps given
// with -config (config-defaults, config-features and config-autoscaler of namespace
// knative-serving; config-features of knative-eventing). Objects of other kinds are
// left to the Kubernetes schemas and CRDs. The exit status is 0 when every object is
// admitted, 1 when one is refused, 2 when the input or a ConfigMap cannot be read.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// verdict is what Knative's code said about one object.
type verdict struct {
	Index      int            `json:"index"`
	APIVersion string         `json:"apiVersion"`
	Kind       string         `json:"kind"`
	Namespace  string         `json:"namespace"`
	Name       string         `json:"name"`
	Checked    string         `json:"checked"`
	Errors     []string       `json:"errors"`
	Warnings   []string       `json:"warnings"`
	Defaulted  map[string]any `json:"defaulted,omitempty"`
}

type header struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
}

// checker is Knative's code for one kind: it fills in the verdict's findings.
type checker func(cfg *webhookConfig, doc []byte, out *verdict)

var checkers = map[string]checker{
	"serving.knative.dev/v1 Service":          checkService,
	"sources.knative.dev/v1beta1 KafkaSource": checkKafkaSource,
	"sources.knative.dev/v1 KafkaSource":      checkKafkaSource,
}

type configFiles []string

func (c *configFiles) String() string     { return strings.Join(*c, ",") }
func (c *configFiles) Set(v string) error { *c = append(*c, v); return nil }

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("certamen-knative-validate", flag.ContinueOnError)
	flags.SetOutput(stderr)
	asJSON := flags.Bool("json", false, "print the verdicts as JSON, each with the defaulted object")
	var configs configFiles
	flags.Var(&configs, "config", "a YAML file of Knative ConfigMaps to validate with (repeatable)")
	if err := flags.Parse(args); err != nil {
		return 2
	}
	cfg, err := loadConfig(configs)
	if err != nil {
		fmt.Fprintf(stderr, "certamen-knative-validate: %v\n", err)
		return 2
	}
	docs, err := readDocuments(flags.Args(), stdin)
	if err != nil {
		fmt.Fprintf(stderr, "certamen-knative-validate: %v\n", err)
		return 2
	}
	verdicts, err := judge(cfg, docs)
	if err != nil {
		fmt.Fprintf(stderr, "certamen-knative-validate: %v\n", err)
		return 2
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(map[string]any{"objects": verdicts}); err != nil {
			fmt.Fprintf(stderr, "certamen-knative-validate: %v\n", err)
			return 2
		}
	} else {
		printVerdicts(stdout, verdicts)
	}
	for _, v := range verdicts {
		if len(v.Errors) > 0 {
			return 1
		}
	}
	return 0
}

// judge runs the checker of each document's kind; other kinds are not listed.
func judge(cfg *webhookConfig, docs [][]byte) ([]verdict, error) {
	verdicts := []verdict{}
	for i, doc := range docs {
		var h header
		if err := json.Unmarshal(doc, &h); err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		check, ok := checkers[h.APIVersion+" "+h.Kind]
		if !ok {
			continue
		}
		out := verdict{
			Index: i, APIVersion: h.APIVersion, Kind: h.Kind,
			Namespace: h.Metadata.Namespace, Name: h.Metadata.Name,
			Errors: []string{}, Warnings: []string{},
		}
		check(cfg, doc, &out)
		verdicts = append(verdicts, out)
	}
	return verdicts, nil
}

// readDocuments reads every YAML document of the files (or stdin), as JSON.
func readDocuments(paths []string, stdin io.Reader) ([][]byte, error) {
	if len(paths) == 0 {
		return splitYAML("stdin", stdin)
	}
	var docs [][]byte
	for _, path := range paths {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		found, err := splitYAML(path, f)
		f.Close()
		if err != nil {
			return nil, err
		}
		docs = append(docs, found...)
	}
	return docs, nil
}

// splitYAML turns a multi-document YAML stream into JSON documents; a duplicate key
// is an error, as the API server's strict field validation makes it one.
func splitYAML(name string, r io.Reader) ([][]byte, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(r))
	var docs [][]byte
	for {
		raw, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		doc, err := yaml.YAMLToJSONStrict(raw)
		if err != nil {
			return nil, fmt.Errorf("%s, document %d: %w", name, len(docs), err)
		}
		if string(doc) != "null" {
			docs = append(docs, doc)
		}
	}
}

func printVerdicts(w io.Writer, verdicts []verdict) {
	for _, v := range verdicts {
		state := "ok"
		if len(v.Errors) > 0 {
			state = "REFUSED"
		}
		fmt.Fprintf(w, "%-8s %s %s %s/%s (%s)\n", state, v.APIVersion, v.Kind, v.Namespace, v.Name, v.Checked)
		for _, e := range v.Errors {
			fmt.Fprintf(w, "  error:   %s\n", strings.ReplaceAll(e, "\n", "\n           "))
		}
		for _, e := range v.Warnings {
			fmt.Fprintf(w, "  warning: %s\n", strings.ReplaceAll(e, "\n", "\n           "))
		}
	}
}
