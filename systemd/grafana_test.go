package systemd_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hrmd/hrmd/daemon/config"
	"github.com/hrmd/hrmd/internal/hrmdtest"
	"github.com/hrmd/hrmd/internal/testenv"
)

// grafanaPanel is what the test reads of a panel of the dashboard's JSON
// model: a row holds its panels when collapsed.
type grafanaPanel struct {
	Title   string         `json:"title"`
	Type    string         `json:"type"`
	Panels  []grafanaPanel `json:"panels"`
	Targets []struct {
		Expr       string `json:"expr"`
		Datasource struct {
			UID string `json:"uid"`
		} `json:"datasource"`
	} `json:"targets"`
}

type grafanaDashboard struct {
	SchemaVersion int            `json:"schemaVersion"`
	Panels        []grafanaPanel `json:"panels"`
	Templating    struct {
		List []struct {
			Name  string          `json:"name"`
			Type  string          `json:"type"`
			Query json.RawMessage `json:"query"` // a string, or an object with "query"
		} `json:"list"`
	} `json:"templating"`
}

// dashboardQueries reads the shipped dashboard: every PromQL expression of
// its panels (by panel title) and of its query variables.
func dashboardQueries(t *testing.T) map[string][]string {
	t.Helper()
	data, err := os.ReadFile("grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d grafanaDashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	if d.SchemaVersion < 38 {
		t.Errorf("grafana-dashboard.json: schemaVersion %d; it is written for Grafana 10 or newer (38 and up)",
			d.SchemaVersion)
	}
	queries := map[string][]string{}
	var walk func([]grafanaPanel)
	walk = func(panels []grafanaPanel) {
		for _, p := range panels {
			walk(p.Panels)
			if p.Type != "row" && len(p.Targets) == 0 {
				t.Errorf("grafana-dashboard.json: panel %q queries nothing", p.Title)
			}
			for _, tg := range p.Targets {
				// One dashboard for any Prometheus: the data source is the variable's.
				if tg.Datasource.UID != "${datasource}" {
					t.Errorf("grafana-dashboard.json: panel %q queries data source %q, not ${datasource}", p.Title,
						tg.Datasource.UID)
				}
				queries[p.Title] = append(queries[p.Title], tg.Expr)
			}
		}
	}
	walk(d.Panels)
	var datasource bool
	for _, v := range d.Templating.List {
		switch v.Type {
		case "datasource":
			datasource = datasource || v.Name == "datasource" && strings.Contains(string(v.Query), "prometheus")
		case "query":
			var q struct{ Query string }
			if err := json.Unmarshal(v.Query, &q); err != nil {
				if err := json.Unmarshal(v.Query, &q.Query); err != nil {
					t.Fatalf("grafana-dashboard.json: variable %s: query %s", v.Name, v.Query)
				}
			}
			queries["variable "+v.Name] = append(queries["variable "+v.Name], q.Query)
		}
	}
	if !datasource {
		t.Error("grafana-dashboard.json: no variable datasource of type datasource for prometheus")
	}
	return queries
}

// A metric name in PromQL: hrmd's, as a selector (before its labels) or
// label_values' first argument.
var (
	promSelector  = regexp.MustCompile(`([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{`)
	promLabelVals = regexp.MustCompile(`label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,`)
	promHrmdName  = regexp.MustCompile(`\bhrmd_[a-zA-Z0-9_:]*`)
)

// queriedSeries are the series names the queries select, each with the
// panels that select it; the test fails on a query that selects none, or
// names an hrmd metric other than as a selector (so none is left unchecked).
func queriedSeries(t *testing.T, queries map[string][]string) map[string][]string {
	t.Helper()
	series := map[string][]string{}
	for title, exprs := range queries {
		for _, e := range exprs {
			var names []string
			for _, m := range promSelector.FindAllStringSubmatch(e, -1) {
				names = append(names, m[1])
			}
			for _, m := range promLabelVals.FindAllStringSubmatch(e, -1) {
				names = append(names, m[1])
			}
			if len(names) == 0 {
				t.Errorf("grafana-dashboard.json: %q: %s selects no series (each selects hrmd's with {instance=~...})",
					title, e)
			}
			for _, n := range promHrmdName.FindAllString(e, -1) {
				if !slices.Contains(names, n) {
					t.Errorf("grafana-dashboard.json: %q: %s names %s other than as a selector", title, e, n)
				}
			}
			for _, n := range names {
				if !slices.Contains(series[n], title) {
					series[n] = append(series[n], title)
				}
			}
		}
	}
	return series
}

// exported are the series names of a /metrics body (a histogram's
// name_bucket, name_sum and name_count, as written) and its metric families
// by name, each with the series names it writes.
func exported(body string) (series map[string]bool, families map[string][]string) {
	series, families = map[string]bool{}, map[string][]string{}
	for _, line := range strings.Split(body, "\n") {
		if f := strings.Fields(line); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			families[f[2]] = []string{f[2]}
			if f[3] == "histogram" || f[3] == "summary" {
				families[f[2]] = append(families[f[2]], f[2]+"_bucket", f[2]+"_sum", f[2]+"_count")
			}
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			series[line[:i]] = true
		}
	}
	return series, families
}

// notOnCPU are the metrics the dashboard shows that a daemon on this
// machine cannot export, and why. The test wants each registered in the
// daemon's source and absent from the daemon's /metrics here (once it
// shows up, it is checked as the others are and leaves this list).
var notOnCPU = map[string]string{
	"hrmd_precision_check": "set only once TensorRT or CUDA checked an engine against the fp32 reference",
}

// Every series the shipped Grafana dashboard queries is one a running hrmd
// exports, by that name (a histogram's _bucket, _sum and _count as such):
// one hrmd in role both on a NATS server (the fleet's metrics with the
// single hrmd's), on the Orin Nano fixture (temperatures, GPU load), having
// answered a file, failed one and reloaded once, so that the vectors that
// appear only then have appeared.
func TestGrafanaDashboardQueriesExist(t *testing.T) {
	series := queriedSeries(t, dashboardQueries(t))
	for name, titles := range series {
		if !strings.HasPrefix(name, "hrmd_") {
			t.Errorf("grafana-dashboard.json: %v query %s, not an hrmd metric", titles, name)
		}
	}

	srv := hrmdtest.StartNATS(t, "max_payload: 8MB\n")
	dir := t.TempDir()
	model, err := filepath.Abs(filepath.Join("..", "engine", "testdata", "nova-tiny"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := hrmdtest.Config(dir, "test", model)
	cfg.Queue.Role, cfg.Queue.Servers, cfg.Queue.Name, cfg.Queue.Replicas = config.RoleBoth, []string{srv.URL}, "both", 1
	cfg.Inference.MaxCycles = 2
	conf := filepath.Join(dir, "hrmd.yaml")
	if err := hrmdtest.WriteConfig(conf, cfg); err != nil {
		t.Fatal(err)
	}
	orinNano := filepath.Join("..", "jetson", "testdata", "orin-nano")
	p := hrmdtest.StartDaemon(t, hrmdtest.Options{Bin: hrmdBin, Config: conf, Instance: "test",
		ShutdownTimeout: 10 * time.Second, Args: []string{"--sysroot", orinNano}})
	p.WaitEvent("ready", 1, time.Minute)
	l := cfg.Layout("test")
	for name, data := range testenv.ARCTasks(t, 1) {
		if err := hrmdtest.Drop(l.Inbox, name, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := hrmdtest.Drop(l.Inbox, "broken.json", []byte(`{"train": [`)); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, time.Minute, "an answer and a failure", func() bool {
		return len(hrmdtest.Inputs(l.Done())) == 1 && len(hrmdtest.Inputs(l.Failed())) == 1
	})
	p.Signal(syscall.SIGHUP)
	p.WaitEvent("reloaded", 1, time.Minute)
	var have map[string]bool
	var families map[string][]string
	testenv.WaitFor(t, 30*time.Second, "the temperatures and the GPU load in /metrics (polled)", func() bool {
		code, body := p.Get("/metrics")
		have, families = exported(body)
		return code == 200 && have["hrmd_temperature_celsius"] && have["hrmd_gpu_load_ratio"]
	})

	for name, titles := range series {
		if why, ok := notOnCPU[name]; ok {
			if have[name] {
				t.Errorf("%s is in /metrics here: take it out of notOnCPU", name)
			}
			t.Logf("%s (%v) is not checked in /metrics: %s", name, titles, why)
			continue
		}
		if !have[name] {
			t.Errorf("grafana-dashboard.json: %v query %s, which a running hrmd does not export", titles, name)
		}
	}
	// And the other way: no metric of hrmd's is missing from the dashboard.
	for family, names := range families {
		if strings.HasPrefix(family, "hrmd_") && !slices.ContainsFunc(names, func(n string) bool {
			return series[n] != nil
		}) {
			t.Errorf("hrmd exports %s, and grafana-dashboard.json has no panel for it", family)
		}
	}
	source, err := os.ReadFile(filepath.Join("..", "daemon", "metrics.go"))
	if err != nil {
		t.Fatal(err)
	}
	for name := range notOnCPU {
		if !strings.Contains(string(source), `Name: "`+name+`"`) {
			t.Errorf("notOnCPU names %s, which daemon/metrics.go does not register", name)
		}
	}
}
