package config

import (
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/hrmd/hrmd/internal/errcode"
)

// The roles an hrmd plays in a fleet (queue.role).
const (
	RoleWorker  = "worker"  // answers puzzles taken from the queue
	RoleGateway = "gateway" // watches the inbox, publishes its files, writes the answers
	RoleBoth    = "both"
)

// Queue is the `queue:` section: fleet mode over NATS JetStream
// (docs/fleet.md). Without a role, hrmd runs alone on its inbox.
type Queue struct {
	Role            string   `yaml:"role"`
	Servers         []string `yaml:"servers"`
	Name            string   `yaml:"name"` // "" = <hostname>-<instance>
	Credentials     string   `yaml:"credentials"`
	NKey            string   `yaml:"nkey"`
	TLSCA           string   `yaml:"tls_ca"`
	TLSCert         string   `yaml:"tls_cert"`
	TLSKey          string   `yaml:"tls_key"`
	Subject         string   `yaml:"subject"`
	Stream          string   `yaml:"stream"`
	AnswersStream   string   `yaml:"answers_stream"`
	Replicas        int      `yaml:"replicas"`
	AckWait         Duration `yaml:"ack_wait"`
	MaxAckPending   int      `yaml:"max_ack_pending"`
	MaxAttempts     int      `yaml:"max_attempts"`
	DuplicateWindow Duration `yaml:"duplicate_window"`
	AnswersMaxAge   Duration `yaml:"answers_max_age"`
	PingInterval    Duration `yaml:"ping_interval"`
	// A gateway's answers come from one model (docs/fleet.md, One model):
	// ModelSHA256 names it ("": the model of the first answer written in
	// this run), and MixedModels says what becomes of an answer from
	// another (MixedRefuse or MixedFlag).
	ModelSHA256 string `yaml:"model_sha256"`
	MixedModels string `yaml:"mixed_models"`
	// The older ack_wait, duplicate_window, answers_max_age and
	// ping_interval, in seconds (olderKeys).
	AckWaitS         *int `yaml:"ack_wait_s,omitempty"`
	DuplicateWindowS *int `yaml:"duplicate_window_s,omitempty"`
	AnswersMaxAgeS   *int `yaml:"answers_max_age_s,omitempty"`
	PingIntervalS    *int `yaml:"ping_interval_s,omitempty"`
}

// What a gateway does with an answer from a model other than its own
// (queue.mixed_models).
const (
	MixedRefuse = "refuse" // the file fails with model_mismatch
	MixedFlag   = "flag"   // the answer is written, and the mix logged and counted
)

func defaultQueue() Queue {
	return Queue{Servers: []string{}, Subject: "hrmd", Stream: "HRMD_PUZZLES", AnswersStream: "HRMD_ANSWERS", Replicas: 3,
		AckWait: Duration(time.Minute), MaxAckPending: 256, MaxAttempts: 5,
		DuplicateWindow: Duration(30 * time.Minute), AnswersMaxAge: Duration(24 * time.Hour),
		PingInterval: Duration(3 * time.Second), MixedModels: MixedRefuse}
}

// Gateway reports whether the role takes in files for the fleet.
func (q Queue) Gateway() bool { return q.Role == RoleGateway || q.Role == RoleBoth }

// Worker reports whether the role answers puzzles from the queue.
func (q Queue) Worker() bool { return q.Role == RoleWorker || q.Role == RoleBoth }

// MemberName is this hrmd's name in the fleet: queue.name, or the host's
// name with the instance's, made a subject token.
func (q Queue) MemberName(instance string) string {
	if q.Name != "" {
		return q.Name
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "hrmd"
	}
	name := host
	if instance != host { // the default instance is the host's name
		name += "-" + instance
	}
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, name)
}

// validate checks the section; each message names the key.
func (q Queue) validate() error {
	switch q.Role {
	case "":
		return nil
	case RoleWorker, RoleGateway, RoleBoth:
	default:
		return fmt.Errorf("queue.role is %q; use worker, gateway or both (or leave queue: out to run alone)", q.Role)
	}
	if len(q.Servers) == 0 {
		return fmt.Errorf(
			"queue.servers is empty; list the NATS servers, e.g. [nats://10.0.0.1:4222, nats://10.0.0.2:4222, " +
				"nats://10.0.0.3:4222]",
		)
	}
	for _, s := range q.Servers {
		if err := checkServerURL(s); err != nil {
			return fmt.Errorf("queue.servers: %q %v", s, err)
		}
	}
	if q.Name != "" && !ValidToken(q.Name) {
		return fmt.Errorf("queue.name is %q; use letters, digits, - and _ (at most 128), unique in the fleet", q.Name)
	}
	for _, t := range []struct{ key, value string }{
		{"queue.subject", q.Subject},
		{"queue.stream", q.Stream},
		{"queue.answers_stream", q.AnswersStream},
	} {
		if !ValidToken(t.value) {
			return fmt.Errorf("%s is %q; use letters, digits, - and _", t.key, t.value)
		}
	}
	if q.Stream == q.AnswersStream {
		return fmt.Errorf("queue.stream and queue.answers_stream are both %q; they must differ", q.Stream)
	}
	if err := q.validateModel(); err != nil {
		return err
	}
	if err := q.validateFiles(); err != nil {
		return err
	}
	if err := q.validateNumbers(); err != nil {
		return err
	}
	return q.validateDurations()
}

func (q Queue) validateModel() error {
	if q.MixedModels != MixedRefuse && q.MixedModels != MixedFlag {
		return fmt.Errorf(
			"queue.mixed_models is %q; use refuse (the default: an answer from another model fails its file with "+
				"model_mismatch) or flag (written, and logged)",
			q.MixedModels,
		)
	}
	if q.ModelSHA256 != "" && (len(q.ModelSHA256) != 64 || strings.Trim(q.ModelSHA256, "0123456789abcdef") != "") {
		return fmt.Errorf(
			"queue.model_sha256 is %q; use the 64 lowercase hex digits of the model's sha256 (hrmd doctor on a worker, or an "+
				"answer file's model.sha256, shows it), or \"\" for the model of the first answer",
			q.ModelSHA256,
		)
	}
	return nil
}

func checkServerURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return fmt.Errorf("is not a URL: %v", err)
	case u.Scheme != "nats" && u.Scheme != "tls":
		return fmt.Errorf("is not a nats:// or tls:// URL (nats://host:4222)")
	case u.Host == "":
		return fmt.Errorf("names no host (nats://host:4222)")
	}
	return nil
}

func (q Queue) validateFiles() error {
	if q.Credentials != "" && q.NKey != "" {
		return fmt.Errorf("queue.credentials and queue.nkey are both set; use one (a .creds file holds its own nkey)")
	}
	if (q.TLSCert == "") != (q.TLSKey == "") {
		return fmt.Errorf(
			"queue.tls_cert and queue.tls_key go together (a client certificate and its key); set both or neither",
		)
	}
	for _, f := range []struct{ key, path string }{
		{"queue.credentials", q.Credentials},
		{"queue.nkey", q.NKey},
		{"queue.tls_ca", q.TLSCA},
		{"queue.tls_cert", q.TLSCert},
		{"queue.tls_key", q.TLSKey},
	} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			return fmt.Errorf("%s: %v", f.key, errcode.PathCause(err))
		}
	}
	return checkCredentialsFile(q.Credentials)
}

// credsJWT opens the user JWT of a NATS .creds file (nsc generate creds).
const credsJWT = "-----BEGIN NATS USER JWT-----"

// checkCredentialsFile refuses a queue.credentials that is no .creds
// file: nats.go would fail every connection attempt with it, for ever.
// A bare nkey seed (a line starting SU) is the common mistake.
func checkCredentialsFile(path string) error {
	if path == "" {
		return nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("queue.credentials: %v", errcode.PathCause(err))
	}
	if strings.Contains(string(data), credsJWT) {
		return nil
	}
	if strings.HasPrefix(strings.TrimSpace(string(data)), "SU") {
		return fmt.Errorf(
			"queue.credentials: %s is a bare nkey seed, not a .creds file (a user JWT and its seed): set it as queue.nkey "+
				"instead, and leave queue.credentials empty",
			path,
		)
	}
	return fmt.Errorf(
		"queue.credentials: %s holds no user JWT (%s): give the .creds file that nsc generate creds writes, or an nkey "+
			"seed as queue.nkey",
		path,
		credsJWT,
	)
}

func (q Queue) validateNumbers() error {
	for _, n := range []struct {
		key      string
		value    int
		min, max int
		hint     string
	}{
		{"queue.replicas", q.Replicas, 1, 5, "3 for a cluster of three servers, 1 for one server"},
		{"queue.max_ack_pending", q.MaxAckPending, 1, 100000, "256: at least the sum of the workers' batches"},
		{"queue.max_attempts", q.MaxAttempts, 2, 100, "5: deliveries of one puzzle before it is failed with delivery_limit"},
	} {
		if n.value < n.min || n.value > n.max {
			return fmt.Errorf("%s is %d; use %d to %d (%s)", n.key, n.value, n.min, n.max, n.hint)
		}
	}
	return nil
}

func (q Queue) validateDurations() error {
	const day = 24 * time.Hour
	return checkDurations([]durationRule{
		{"queue.ack_wait", q.AckWait, 5 * time.Second, time.Hour, "1m: a worker holding a puzzle says so every ack_wait/3"},
		{"queue.duplicate_window", q.DuplicateWindow, time.Minute, 7 * day, "30m"},
		{"queue.answers_max_age", q.AnswersMaxAge, time.Duration(q.DuplicateWindow), 365 * day,
			"24h, and at least queue.duplicate_window"},
		{"queue.ping_interval", q.PingInterval, time.Second, 2 * time.Minute,
			"3s: a server that misses two pings is left for another, so a hung one holds its clients 2 to 3 times this"},
	})
}

// ValidToken reports whether s can be one token of a NATS subject: a puzzle
// id, a gateway's name.
func ValidToken(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}
