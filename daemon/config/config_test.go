package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/hrmd/hrmd/engine"
	"github.com/hrmd/hrmd/puzzles"
)

// The shipped systemd/hrmd.yaml documents every key with its default value.
// It is decoded into a zero Config, not over the defaults, so a key missing
// from the file shows as a zero where the default is not; the walk over the
// file's keys catches a missing key whose default is zero too.
func TestShippedConfigIsTheDefault(t *testing.T) {
	data, err := os.ReadFile("../../systemd/hrmd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("systemd/hrmd.yaml: %v", err)
	}
	if want := Default(); !reflect.DeepEqual(cfg, want) {
		t.Errorf("systemd/hrmd.yaml:\n%+v\ndefaults:\n%+v", cfg, want)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if missing := missingKeys(reflect.TypeFor[Config](), doc.Content[0], ""); len(missing) > 0 {
		t.Errorf("systemd/hrmd.yaml lacks %v: it must list every key with its default", missing)
	}
}

// missingKeys lists the yaml keys of the struct type t that the mapping
// node lacks, at any depth ("inference.max_batch").
func missingKeys(t reflect.Type, node *yaml.Node, prefix string) []string {
	var missing []string
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue // not read from the file
		}
		tag := strings.Split(f.Tag.Get("yaml"), ",")
		key := tag[0]
		if slices.Contains(tag[1:], "omitempty") {
			continue // a key kept only for older configs: not listed
		}
		var value *yaml.Node
		for j := 0; node.Kind == yaml.MappingNode && j+1 < len(node.Content); j += 2 {
			if node.Content[j].Value == key {
				value = node.Content[j+1]
			}
		}
		switch {
		case value == nil:
			missing = append(missing, prefix+key)
		case f.Type.Kind() == reflect.Struct:
			missing = append(missing, missingKeys(f.Type, value, prefix+key+".")...)
		}
	}
	return missing
}

// missingKeys sees a key that is not there, at the top and nested.
func TestMissingKeys(t *testing.T) {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte("inbox: /in\ninference: {max_batch: 4}\n"), &doc); err != nil {
		t.Fatal(err)
	}
	missing := missingKeys(reflect.TypeFor[Config](), doc.Content[0], "")
	for _, want := range []string{"outbox", "inference.halting", "answers"} {
		if !slices.Contains(missing, want) {
			t.Errorf("missingKeys %v lacks %s", missing, want)
		}
	}
	if slices.Contains(missing, "inbox") || slices.Contains(missing, "inference.max_batch") {
		t.Errorf("missingKeys %v names keys that are there", missing)
	}
}

// A reload refuses a file with no settings (an editor saving it in place
// leaves it empty for a moment), where a start takes every default; {} is
// every default for both.
func TestReloadConfigRefusesAnEmptyFile(t *testing.T) {
	for _, tt := range []struct {
		yaml string
		err  string
	}{
		{"", "holds no settings"},
		{"# only a comment\n", "holds no settings"},
		{"{}\n", ""},
	} {
		path := filepath.Join(t.TempDir(), "hrmd.yaml")
		if err := os.WriteFile(path, []byte(tt.yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(path); err != nil {
			t.Errorf("start with %q: %v", tt.yaml, err)
		}
		_, err := Reload(path)
		if (err == nil) != (tt.err == "") || err != nil && !strings.Contains(err.Error(), tt.err) {
			t.Errorf("reload of %q: %v, want an error saying %q", tt.yaml, err, tt.err)
		}
	}
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name, yaml string
		err        string
		check      func(Config) bool
	}{
		{"empty file", "", "", func(c Config) bool { return reflect.DeepEqual(c, Default()) }},
		{"one key", "inference: {max_batch: 8}\n", "", func(c Config) bool {
			return c.Inference.MaxBatch == 8 && c.Inference.Halting == "model" && c.Inference.DemoCheck
		}},
		{"providers replaced", "onnxruntime:\n  providers: [cpu]\n", "", func(c Config) bool {
			return reflect.DeepEqual(c.ONNXRuntime.Providers, []string{"cpu"})
		}},
		{"http off", "http: {listen: \"\"}\n", "", func(c Config) bool { return c.HTTP.Listen == "" }},
		{"unknown key", "inbx: /tmp/in\n", "field inbx not found", nil},
		{"unknown nested key", "tensorrt:\n  fp32: true\n", "field fp32 not found", nil},
		{"wrong type", "inference: {max_batch: many}\n", `inference.max_batch is "many" (line 1); use auto`, nil},
		{"max batch", "inference: {max_batch: 0}\n", "inference.max_batch is 0 (line 1); use auto", nil},
		{"max batch too large", "inference: {max_batch: 257}\n", "inference.max_batch is 257", nil},
		{"max batch quoted", "inference: {max_batch: \"4\"}\n", `inference.max_batch is "4"`, nil},
		{"max batch fraction", "inference: {max_batch: 2.5}\n", `inference.max_batch is "2.5"`, nil},
		{"max batch list", "inference: {max_batch: [4]}\n", "inference.max_batch (line 1) is not a value", nil},
		{"max batch auto", "inference: {max_batch: auto, gpu_batch: 8}\n", "", func(c Config) bool {
			return c.Inference.MaxBatch == MaxBatchAuto && c.Inference.GPUBatch == 8
		}},
		{"gpu batch", "inference: {gpu_batch: 0}\n", "inference.gpu_batch is 0; use 1 to 256", nil},
		{"gpu batch too large", "inference: {gpu_batch: 300}\n", "inference.gpu_batch is 300", nil},
		{"halting", "inference: {halting: sometimes}\n", `halting mode "sometimes"`, nil},
		{"augmentations", "inference: {augmentations: 16}\n", "inference.augmentations is 16", nil},
		{"augmentations on", "inference: {augmentations: 8}\n", "", func(c Config) bool { return c.Inference.Augmentations == 8 }},
		{"provider", "onnxruntime: {providers: [tensorrt, gpu]}\n", `onnxruntime.providers[1] is "gpu"`, nil},
		{"require unlisted", "onnxruntime: {providers: [cpu], require: tensorrt}\n", `onnxruntime.require is "tensorrt"`, nil},
		{"threads", "onnxruntime: {threads: -2}\n", "onnxruntime.threads is -2", nil},
		{"builder level", "tensorrt: {builder_optimization_level: 7}\n", "tensorrt.builder_optimization_level is 7", nil},
		{"fp16 check", "tensorrt: {fp16_check: sometimes}\n", `tensorrt.fp16_check is "sometimes"; use fallback`, nil},
		{"fp16 check refuse", "tensorrt: {fp16_check: refuse}\n", "", func(c Config) bool { return c.Engine().TensorRT.FP16Check == "refuse" }},
		{"fp16 check default", "log: {level: info}\n", "", func(c Config) bool { return c.Engine().TensorRT.FP16Check == "fallback" }},
		{"log level", "log: {level: loud}\n", `log.level is "loud"`, nil},
		{"listen", "http: {listen: \"9464\"}\n", `http.listen is "9464"`, nil},
		{"empty folder", "outbox: \"\"\n", "outbox is empty", nil},
		{"max file bytes", "watch: {max_file_bytes: 0}\n", "watch.max_file_bytes is 0", nil},
		{"limits", "watch: {max_tasks: 5, max_train_pairs: 6, max_test_inputs: 7, max_rows: 8}\n", "", func(c Config) bool {
			return c.Limits() == puzzles.Limits{Bytes: puzzles.DefaultMaxBytes, Tasks: 5, TrainPairs: 6, TestInputs: 7} && c.AnswerOptions(c.RunOptions()).MaxRows == 8
		}},
		{"max tasks", "watch: {max_tasks: 0}\n", "watch.max_tasks is 0", nil},
		{"max train pairs", "watch: {max_train_pairs: -1}\n", "watch.max_train_pairs is -1", nil},
		{"max test inputs", "watch: {max_test_inputs: 0}\n", "watch.max_test_inputs is 0", nil},
		{"max rows", "watch: {max_rows: 0}\n", "watch.max_rows is 0", nil},
		{"max rows under the variants", "watch: {max_rows: 7}\ninference: {augmentations: 7}\n", "watch.max_rows is 7; one test input with inference.augmentations 7 takes 8 rows", nil},
		{"input invariant", "inference: {input_invariant: ignore}\n", `inference.input_invariant is "ignore"`, nil},
		{"answers trace", "answers: {trace: verbose}\n", `answers.trace is "verbose"`, nil},
		{"answers png", "answers: {png: true, trace: full}\n", "", func(c Config) bool { return c.Answers.PNG && c.RunOptions().Trace == "full" }},
		{"thermal off", "thermal: {pause_c: 0}\n", "", func(c Config) bool { return c.Thermal.PauseC == 0 && c.Thermal.ResumeC == 80 }},
		{"thermal zones replaced", "thermal: {zones: [tj]}\n", "", func(c Config) bool { return reflect.DeepEqual(c.Thermal.Zones, []string{"tj"}) }},
		{"thermal no hysteresis", "thermal: {pause_c: 80}\n", "thermal.resume_c is 80, not below thermal.pause_c 80", nil},
		{"thermal fahrenheit", "thermal: {pause_c: 194, resume_c: 176}\n", "thermal.pause_c is 194", nil},
		{"thermal poll", "thermal: {poll: 0s}\n", "thermal.poll is 0s; use at least 1s", nil},
		{"thermal poll, older key", "thermal: {poll_s: 0}\n",
			"thermal.poll is 0s; use at least 1s (5s) (from thermal.poll_s in the file", nil},
		{"no queue: alone", "{}\n", "", func(c Config) bool { return c.Queue.Role == "" && !c.Queue.Gateway() && !c.Queue.Worker() }},
		{"queue worker", "queue: {role: worker, servers: [nats://a:4222, tls://b:4222]}\n", "", func(c Config) bool {
			return c.Queue.Worker() && !c.Queue.Gateway() && c.Queue.Replicas == 3 && c.Queue.MemberName("x") != ""
		}},
		{"queue both", "queue: {role: both, servers: [nats://a:4222], name: jetson-1}\n", "", func(c Config) bool {
			return c.Queue.Worker() && c.Queue.Gateway() && c.Queue.MemberName("x") == "jetson-1"
		}},
		{"queue role", "queue: {role: master, servers: [nats://a:4222]}\n", `queue.role is "master"; use worker, gateway or both`, nil},
		{"queue no servers", "queue: {role: worker}\n", "queue.servers is empty", nil},
		{"queue http server", "queue: {role: worker, servers: [http://a:4222]}\n", "is not a nats:// or tls:// URL", nil},
		{"queue bare host", "queue: {role: worker, servers: [a:4222]}\n", "queue.servers", nil},
		{"queue name", "queue: {role: worker, servers: [nats://a:4222], name: jetson.1}\n", `queue.name is "jetson.1"`, nil},
		{"queue subject", "queue: {role: worker, servers: [nats://a:4222], subject: \"a.b\"}\n", `queue.subject is "a.b"`, nil},
		{"queue one stream", "queue: {role: worker, servers: [nats://a:4222], answers_stream: HRMD_PUZZLES}\n", "they must differ", nil},
		{"queue creds and nkey", "queue: {role: worker, servers: [nats://a:4222], credentials: /x, nkey: /y}\n", "use one", nil},
		{"queue cert without key", "queue: {role: worker, servers: [nats://a:4222], tls_cert: /x}\n", "go together", nil},
		{"queue missing ca", "queue: {role: worker, servers: [nats://a:4222], tls_ca: /nonexistent/ca.pem}\n", "queue.tls_ca: ", nil},
		{"queue replicas", "queue: {role: worker, servers: [nats://a:4222], replicas: 7}\n", "queue.replicas is 7; use 1 to 5", nil},
		{"queue ack wait", "queue: {role: worker, servers: [nats://a:4222], ack_wait: 1s}\n",
			"queue.ack_wait is 1s; use 5s to 1h", nil},
		{"queue ack wait, older key", "queue: {role: worker, servers: [nats://a:4222], ack_wait_s: 1}\n",
			"queue.ack_wait is 1s; use 5s to 1h", nil},
		{"queue attempts", "queue: {role: worker, servers: [nats://a:4222], max_attempts: 1}\n", "queue.max_attempts is 1", nil},
		{"queue answers kept too short", "queue: {role: worker, servers: [nats://a:4222], answers_max_age: 10m}\n",
			"queue.answers_max_age is 10m; use 30m to", nil},
		{"queue ping interval", "queue: {role: worker, servers: [nats://a:4222], ping_interval: 0s}\n",
			"queue.ping_interval is 0s; use 1s to 2m", nil},
		{"queue ping interval default", "queue: {role: worker, servers: [nats://a:4222]}\n", "", func(c Config) bool {
			return c.Queue.PingInterval == Duration(3*time.Second)
		}},
		{"queue mixed models", "queue: {role: gateway, servers: [nats://a:4222], mixed_models: allow}\n", `queue.mixed_models is "allow"; use refuse`, nil},
		{"queue model sha256", "queue: {role: gateway, servers: [nats://a:4222], model_sha256: a71a55ea83b9}\n", `queue.model_sha256 is "a71a55ea83b9"; use the 64`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if cfg, loaded := loadYAML(t, tt.yaml, tt.err); loaded && !tt.check(cfg) {
				t.Errorf("got %+v", cfg)
			}
		})
	}
}

// loadYAML loads a file holding text; with err, it must fail, with a message
// naming the file and saying err. It reports whether the config loaded.
func loadYAML(t *testing.T, text, err string) (Config, bool) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hrmd.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, lerr := Load(path)
	if err != "" {
		if lerr == nil || !strings.Contains(lerr.Error(), err) || !strings.Contains(lerr.Error(), path) {
			t.Fatalf("got %v, want an error naming %s and saying %q", lerr, path, err)
		}
		return cfg, false
	}
	if lerr != nil {
		t.Fatal(lerr)
	}
	return cfg, true
}

// queue.credentials must be a .creds file: a bare nkey seed there (or
// anything else without a user JWT) fails every connection for ever, so
// the config check refuses it, naming the key and the fix.
func TestQueueCredentialsFile(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		name, content, err string
	}{
		{"creds", "-----BEGIN NATS USER JWT-----\neyJ0eXAiOiJKV1QifQ.e30.x\n------END NATS USER JWT------\n\n-----BEGIN USER NKEY SEED-----\nSUAIBDPBAUTWCWBKIO6XHQNINK5FWJW4OHLXC3HQ2KFE4PEJUA44CNHTC4\n------END USER NKEY SEED------\n", ""},
		{"bare seed", "SUAIBDPBAUTWCWBKIO6XHQNINK5FWJW4OHLXC3HQ2KFE4PEJUA44CNHTC4\n", "is a bare nkey seed, not a .creds file (a user JWT and its seed): set it as queue.nkey instead"},
		{"something else", "user: alice\n", "holds no user JWT"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			creds := filepath.Join(dir, tt.name+".creds")
			if err := os.WriteFile(creds, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, tt.name+".yaml")
			yaml := fmt.Sprintf("queue: {role: worker, servers: [nats://a:4222], credentials: %q}\n", creds)
			if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path)
			if tt.err == "" {
				if err != nil {
					t.Fatalf("a .creds file refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "queue.credentials: "+creds) || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("got %v, want an error naming queue.credentials and %s and saying %q", err, creds, tt.err)
			}
		})
	}
}

// inference.max_batch becomes the engine's batch per provider: auto is 1
// on the CPU and gpu_batch on TensorRT or CUDA; a number is that batch on
// every provider.
func TestModelOptions(t *testing.T) {
	for _, tt := range []struct {
		yaml     string
		gpu, cpu int
	}{
		{"{}", 4, 1},
		{"inference: {max_batch: auto}", 4, 1},
		{"inference: {gpu_batch: 2}", 2, 1},
		{"inference: {max_batch: 8}", 8, 8},
		{"inference: {max_batch: 1, gpu_batch: 16}", 1, 1},
	} {
		path := filepath.Join(t.TempDir(), "hrmd.yaml")
		if err := os.WriteFile(path, []byte(tt.yaml+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, err := Load(path)
		if err != nil {
			t.Fatalf("%s: %v", tt.yaml, err)
		}
		if o := cfg.ModelOptions(); o.MaxBatch != tt.gpu || o.CPUMaxBatch != tt.cpu {
			t.Errorf("%s: MaxBatch %d, CPUMaxBatch %d; want %d and %d", tt.yaml, o.MaxBatch, o.CPUMaxBatch, tt.gpu, tt.cpu)
		}
	}
}

// MaxBatch writes what it reads, so a config marshalled back is the same.
func TestMaxBatchRoundTrip(t *testing.T) {
	for _, b := range []MaxBatch{MaxBatchAuto, 1, 256} {
		data, err := yaml.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		var got MaxBatch
		if err := yaml.Unmarshal(data, &got); err != nil || got != b {
			t.Errorf("%v: marshalled %q, read back %v (%v)", b, data, got, err)
		}
	}
}

// A file refused for a limit says which hrmd.yaml key sets it; other errors
// are left as they are.
func TestNameLimit(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want string
	}{
		{&puzzles.Error{Code: puzzles.CodeTooManyTestInputs, Message: "m"}, "too_many_test_inputs: m (watch.max_test_inputs in hrmd.yaml)"},
		{&puzzles.Error{Code: puzzles.CodeTooBig, Message: "m"}, "too_big: m (watch.max_file_bytes in hrmd.yaml)"},
		{&puzzles.Error{Code: puzzles.CodeTooManyTasks, Message: "m"}, "too_many_tasks: m (watch.max_tasks in hrmd.yaml)"},
		{&puzzles.Error{Code: puzzles.CodeTooManyTrainPairs, Message: "m"}, "too_many_train_pairs: m (watch.max_train_pairs in hrmd.yaml)"},
		{&puzzles.Error{Code: puzzles.CodeTooManyRows, Message: "m (watch.max_rows in hrmd.yaml)"}, "too_many_rows: m (watch.max_rows in hrmd.yaml)"},
		{&puzzles.Error{Code: puzzles.CodeRaggedGrid, Message: "m"}, "ragged_grid: m"},
		{errors.New("plain"), "plain"},
	} {
		if got := NameLimit(tt.err).Error(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

// tensorrt.precision chooses the engine's precision; tensorrt.fp16, its
// older form, still loads (false: fp32), and the two may not disagree.
func TestTensorRTPrecision(t *testing.T) {
	for _, tt := range []struct {
		yaml string
		want string // the engine's precision; "" = the config does not load
		err  string
	}{
		{"tensorrt: {}", engine.PrecisionFP16, ""},
		{"tensorrt: {precision: bf16}", engine.PrecisionBF16, ""},
		{"tensorrt: {precision: fp32}", engine.PrecisionFP32, ""},
		{"tensorrt: {fp16: false}", engine.PrecisionFP32, ""},
		{"tensorrt: {fp16: true}", engine.PrecisionFP16, ""},
		{"tensorrt: {fp16: true, precision: fp16}", engine.PrecisionFP16, ""},
		{"tensorrt: {fp16: false, precision: fp32}", engine.PrecisionFP32, ""},
		{"tensorrt: {fp16: true, precision: fp32}", "", "tensorrt.fp16 is true but tensorrt.precision is fp32; remove fp16"},
		{"tensorrt: {fp16: false, precision: bf16}", "", "tensorrt.fp16 is false but tensorrt.precision is bf16; remove fp16"},
		{"tensorrt: {precision: int8}", "", `tensorrt.precision is "int8"; use fp16`},
	} {
		t.Run(tt.yaml, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "hrmd.yaml")
			if err := os.WriteFile(path, []byte(tt.yaml+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg, err := Load(path)
			switch {
			case tt.want == "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Errorf("err %v, want one holding %q", err, tt.err)
			case tt.want != "" && err != nil:
				t.Errorf("does not load: %v", err)
			case tt.want != "" && cfg.Engine().TensorRT.Precision != tt.want:
				t.Errorf("precision %q, want %q", cfg.Engine().TensorRT.Precision, tt.want)
			}
		})
	}
}

// Durations are written with their unit; the keys before them, whole
// numbers in the unit their names end with, still load to the same values,
// and Deprecated says what to write instead. A wrong value names the file,
// the key and the fix.
func TestDurations(t *testing.T) {
	for _, tt := range []struct {
		name, yaml string
		err        string
		check      func(Config) bool
		deprecated int
	}{
		{"settle", "watch: {settle: 1500ms}\n", "", func(c Config) bool {
			return c.Watch.Settle == Duration(1500*time.Millisecond)
		}, 0},
		{"settle, older key", "watch: {settle_ms: 1500}\n", "", func(c Config) bool {
			return c.Watch.Settle == Duration(1500*time.Millisecond) && c.Watch.SettleMS == nil
		}, 1},
		{"every older key", "tensorrt: {max_build_s: 60}\nwatch: {settle_ms: 0, rescan_s: 0}\nthermal: {poll_s: 2}\n" +
			"queue: {ack_wait_s: 30, duplicate_window_s: 600, answers_max_age_s: 3600, ping_interval_s: 5}\n", "",
			func(c Config) bool {
				q := c.Queue
				return c.TensorRT.MaxBuild == Duration(time.Minute) && c.Watch.Settle == 0 && c.Watch.Rescan == 0 &&
					c.Thermal.Poll == Duration(2*time.Second) && q.AckWait == Duration(30*time.Second) &&
					q.DuplicateWindow == Duration(10*time.Minute) && q.AnswersMaxAge == Duration(time.Hour) &&
					q.PingInterval == Duration(5*time.Second)
			}, 8},
		{"rescan off", "watch: {rescan: 0s}\n", "", func(c Config) bool { return c.Watch.Rescan == 0 }, 0},
		{"no unit", "watch: {settle: 500}\n",
			`watch.settle: "500" (line 1) is not a duration; write a number with its unit: 250ms`, nil, 0},
		{"words", "queue:\n  ack_wait: a minute\n", `queue.ack_wait: "a minute" (line 2) is not a duration`, nil, 0},
		{"a list", "thermal: {poll: [5s]}\n", `thermal.poll: "" (line 1) is not a duration`, nil, 0},
		{"negative", "watch: {settle: -1s}\n", "watch.settle is -1s; use at least 0s", nil, 0},
		{"both keys", "watch: {settle: 1s, settle_ms: 1000}\n",
			"watch.settle_ms and watch.settle are both set; remove watch.settle_ms", nil, 0},
		{"older key out of range", "tensorrt: {max_build_s: 0}\n",
			"tensorrt.max_build is 0s; use at least 1s (1h: a first engine build takes minutes on a Jetson) " +
				"(from tensorrt.max_build_s in the file; write tensorrt.max_build with its unit instead)", nil, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, loaded := loadYAML(t, tt.yaml, tt.err)
			if !loaded {
				return
			}
			if !tt.check(cfg) {
				t.Errorf("got %+v", cfg)
			}
			if notes := cfg.Deprecated(); len(notes) != tt.deprecated {
				t.Errorf("Deprecated: %q, want %d notes", notes, tt.deprecated)
			}
		})
	}
}

// The shipped hrmd.yaml of the hrmd before durations, with every older key,
// loads to the defaults of this one, and says what to write instead.
func TestOlderShippedConfigLoads(t *testing.T) {
	cfg, err := Load("testdata/older-keys.yaml")
	if err != nil {
		t.Fatal(err)
	}
	notes := cfg.Deprecated()
	cfg.older = nil
	if want := Default(); !reflect.DeepEqual(cfg, want) {
		t.Errorf("testdata/older-keys.yaml:\n%+v\ndefaults:\n%+v", cfg, want)
	}
	const settle = "watch.settle_ms: 250 is an older key, read as watch.settle: 250ms; write that instead"
	if len(notes) != 8 || !strings.Contains(notes[1], settle) {
		t.Errorf("Deprecated: %q", notes)
	}
}

// A Duration writes what it reads, in its largest whole unit.
func TestDurationRoundTrip(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		text string
	}{{0, "0s"}, {250 * time.Millisecond, "250ms"}, {90 * time.Second, "90s"}, {30 * time.Minute, "30m"},
		{24 * time.Hour, "24h"},
		{1500 * time.Microsecond, "1.5ms"}, {-5 * time.Second, "-5s"}} {
		data, err := yaml.Marshal(Duration(tt.d))
		if err != nil {
			t.Fatal(err)
		}
		var got Duration
		err = yaml.Unmarshal(data, &got)
		if err != nil || time.Duration(got) != tt.d || strings.TrimSpace(string(data)) != tt.text {
			t.Errorf("%v: marshalled %q, read back %v (%v); want %q", tt.d, data, time.Duration(got), err, tt.text)
		}
	}
}
