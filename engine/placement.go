package engine

import (
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// GraphPlacement says which execution provider ran the nodes of one graph,
// as onnxruntime's profile of a session records it: every node event
// carries the provider whose kernel ran it (sequential_executor.cc). A
// graph TensorRT took whole is one node on TensorrtExecutionProvider.
type GraphPlacement struct {
	Graph string         // the bundle's file, "step.onnx"
	Nodes map[string]int // onnxruntime's provider name: the nodes it ran
}

// String reads "step.onnx: 1 node on TensorrtExecutionProvider", the
// provider with the most nodes first.
func (p GraphPlacement) String() string {
	if len(p.Nodes) == 0 {
		return p.Graph + ": no node ran"
	}
	var parts []string
	for _, provider := range p.Providers() {
		n := p.Nodes[provider]
		noun := "nodes"
		if n == 1 {
			noun = "node"
		}
		parts = append(parts, fmt.Sprintf("%d %s on %s", n, noun, provider))
	}
	return p.Graph + ": " + strings.Join(parts, ", ")
}

// Providers lists the providers that ran nodes, the one with the most first.
func (p GraphPlacement) Providers() []string {
	var out []string
	for provider := range p.Nodes {
		out = append(out, provider)
	}
	slices.SortFunc(out, func(a, b string) int {
		return cmp.Or(cmp.Compare(p.Nodes[b], p.Nodes[a]), cmp.Compare(a, b))
	})
	return out
}

// readPlacements reads the profiles of a model's sessions in dir, one
// <graph without .onnx>_<time>.json for each of graphs.
func readPlacements(dir string, graphs ...string) ([]GraphPlacement, error) {
	var out []GraphPlacement
	for _, graph := range graphs {
		files, err := filepath.Glob(filepath.Join(dir, strings.TrimSuffix(graph, ".onnx")+"_*.json"))
		if err != nil {
			return nil, err
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("no onnxruntime profile of %s in %s", graph, dir)
		}
		p := GraphPlacement{Graph: graph, Nodes: map[string]int{}}
		for _, f := range files {
			if err := countNodes(f, p.Nodes); err != nil {
				return nil, err
			}
		}
		out = append(out, p)
	}
	return out, nil
}

// profileEvent is what hrmd reads of an event in onnxruntime's profile (a
// JSON array in Chrome's trace format).
type profileEvent struct {
	Cat  string `json:"cat"`
	Name string `json:"name"`
	Args struct {
		Provider  string `json:"provider"`
		NodeIndex string `json:"node_index"`
	} `json:"args"`
}

// countNodes adds to nodes, for each provider, the distinct nodes the
// profile at path says it ran: a node runs once a run, and its kernel
// event is one of several per run (fences, timings).
func countNodes(path string, nodes map[string]int) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read the profile: %w", err)
	}
	var events []profileEvent
	if err := json.Unmarshal(data, &events); err != nil {
		return fmt.Errorf("read the profile %s: %w", path, err)
	}
	seen := map[[2]string]bool{}
	for _, e := range events {
		if e.Cat != "Node" || e.Args.Provider == "" {
			continue
		}
		node := e.Args.NodeIndex
		if node == "" {
			node = e.Name
		}
		if key := [2]string{e.Args.Provider, node}; !seen[key] {
			seen[key] = true
			nodes[e.Args.Provider]++
		}
	}
	return nil
}
